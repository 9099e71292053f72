-- Move scheduled jobs that are due (delayed jobs, retries) to the back of the queue.
-- KEYS[1] schedule zset, KEYS[2] pending list (due jobs go in at the left, like new jobs)
-- KEYS[3] queued hash (a delayed job that never started has its state there, not in a record)
-- ARGV[1] now (Unix seconds), ARGV[2] most to move, ARGV[3] job record key prefix
-- Returns {moved, due time of the next scheduled job or false}.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, entry in ipairs(due) do
  redis.call('ZREM', KEYS[1], entry)
  redis.call('LPUSH', KEYS[2], entry)
  local id = job_id(entry)
  if id and redis.call('EXISTS', ARGV[3] .. id) == 1 then
    redis.call('HSET', ARGV[3] .. id, 's', 'queued')
  elseif id then
    local meta = redis.call('HGET', KEYS[3], id)
    if meta then
      redis.call('HSET', KEYS[3], id, 'q' .. string.sub(meta, 2))
    end
  end
end
local next_due = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, next_due[2] or false}
