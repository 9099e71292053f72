-- Move scheduled jobs that are due (delayed jobs, retries) to the back of the queue.
-- KEYS[1] schedule zset, KEYS[2] pending list (due jobs go in at the left, like new jobs)
-- ARGV[1] now (Unix seconds), ARGV[2] most to move, ARGV[3] job record key prefix
-- Returns {moved, due time of the next scheduled job or false}.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, entry in ipairs(due) do
  redis.call('ZREM', KEYS[1], entry)
  redis.call('LPUSH', KEYS[2], entry)
  local id = job_id(entry)
  if id and redis.call('EXISTS', ARGV[3] .. id) == 1 then
    redis.call('HSET', ARGV[3] .. id, 's', 'queued')
  end
end
local next_due = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, next_due[2] or false}
