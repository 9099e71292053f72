-- Mark the job a BLMOVE has just moved into our processing list as running. Sent in one
-- pipeline right behind that BLMOVE, it runs as soon as the BLMOVE returns, with the job at the
-- head of our list. When the BLMOVE timed out instead, the head is a job we already run (its
-- record says running): it is left as it is.
-- KEYS[1] processing list (read only: its head)
-- KEYS[2] queued hash     (the job's entry leaves it when its record is made, see mark_started)
-- ARGV[1] job record key prefix, ARGV[2] now, ARGV[3] TTL in ms of a record made here
-- Returns the head's attempt number, or 0 when the list is empty.
local entry = redis.call('LINDEX', KEYS[1], 0)
if not entry then
  return 0
end
local id = job_id(entry)
if id and redis.call('HGET', ARGV[1] .. id, 's') == 'running' then
  return tonumber(redis.call('HGET', ARGV[1] .. id, 'a')) or 1
end
return mark_started(ARGV[1], KEYS[2], entry, ARGV[2], ARGV[3])
