-- Enqueue one job, idempotent by job id: now (to the queue) or later (to the schedule).
-- KEYS[1] pending list   (the job's bytes go in at the left)
-- KEYS[2] job record     (hash; created with state "queued"/"scheduled"; marks the id as taken)
-- KEYS[3] schedule zset  (used instead of the queue when ARGV[5] gives a due time)
-- ARGV[1] encoded envelope, ARGV[2] task name, ARGV[3] enqueued_at, ARGV[4] record TTL in ms,
-- ARGV[5] due time (Unix seconds) or '' to run now
-- Returns 1 when enqueued, 0 when a job with this id already exists (nothing written).
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local state = (ARGV[5] == '') and 'queued' or 'scheduled'
redis.call('HSET', KEYS[2], 's', state, 't', ARGV[2], 'e', ARGV[3], 'a', 0)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if ARGV[5] == '' then
  redis.call('LPUSH', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
end
return 1
