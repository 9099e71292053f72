-- Enqueue one job, idempotent by job id.
-- KEYS[1] pending list   (the job's bytes go in at the left)
-- KEYS[2] job record     (hash; created with state "queued"; its existence marks the id as taken)
-- ARGV[1] encoded envelope, ARGV[2] task name, ARGV[3] enqueued_at, ARGV[4] record TTL in ms
-- Returns 1 when enqueued, 0 when a job with this id already exists (nothing written).
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('HSET', KEYS[2], 's', 'queued', 't', ARGV[2], 'e', ARGV[3], 'a', 0)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('LPUSH', KEYS[1], ARGV[1])
return 1
