-- Mark one job, already moved into our processing list by BLMOVE, as running.
-- KEYS[1] processing list (read only: the entry must still be ours)
-- KEYS[2] queued hash     (the job's entry leaves it when its record is made, see mark_started)
-- ARGV[1] entry, ARGV[2] job record key prefix, ARGV[3] now, ARGV[4] TTL in ms of a record
-- made here
-- Returns the attempt number, or 0 when the entry is no longer in our list.
if redis.call('LPOS', KEYS[1], ARGV[1]) == false then
  return 0
end
return mark_started(ARGV[2], KEYS[2], ARGV[1], ARGV[3], ARGV[4])
