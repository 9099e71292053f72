-- Move scheduled jobs that are due (delayed jobs, retries) to the back of the queue.
-- Returns {moved, due time of the next scheduled job or false}.
--- @include lib/job_head
local schedule = KEYS[1]
local pending = KEYS[2]      -- due jobs go in at the left, like new jobs
local queued = KEYS[3]       -- a delayed job that never started has its state there, not in a record
local now = ARGV[1]          -- Unix seconds
local limit = tonumber(ARGV[2])
local job_prefix = ARGV[3]

local due = redis.call('ZRANGEBYSCORE', schedule, '-inf', now, 'LIMIT', 0, limit)
for _, entry in ipairs(due) do
  redis.call('ZREM', schedule, entry)
  redis.call('LPUSH', pending, entry)
  local id = job_id(entry)
  if id and redis.call('EXISTS', job_prefix .. id) == 1 then
    redis.call('HSET', job_prefix .. id, FIELD_STATE, STATE_QUEUED)
  elseif id then
    local meta = redis.call('HGET', queued, id)
    if meta then  -- the queued entry's mark becomes MARK_QUEUED (protocol.QueuedEntry)
      redis.call('HSET', queued, id, MARK_QUEUED .. string.sub(meta, 2))
    end
  end
end
local next_due = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
return {#due, next_due[2] or false}
