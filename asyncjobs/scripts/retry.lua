-- Schedule a failed job's next attempt: move it from our processing list into the schedule.
-- KEYS[1] our processing list (the entry must be there, else we lost ownership)
-- KEYS[2] schedule zset       (entry scored by due time, promoted by promote.lua)
-- KEYS[3] job record          (state "scheduled", last error kept in 'le')
-- KEYS[4] stats hash
-- ARGV[1] entry, ARGV[2] due time (Unix seconds), ARGV[3] "Type: message" of the failure,
-- ARGV[4] this execution's token (worker id and attempt)
-- Returns 1 when scheduled, 0 when the entry was no longer ours (counted once as a duplicate).
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  count_duplicate(KEYS[3], KEYS[4], ARGV[4])
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 's', 'scheduled', 'le', ARGV[3])
end
redis.call('HINCRBY', KEYS[4], 'retried', 1)
return 1
