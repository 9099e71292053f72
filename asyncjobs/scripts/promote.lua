-- Move scheduled jobs that are due (delayed jobs, retries) to the queue, each with its
-- priority: a job of priority 0 to the back of the pending list, others to the prioritized
-- zset. A cancelled job leaves the schedule and goes nowhere.
-- Returns {moved, due time of the next scheduled job or false}.
--- @include lib/job_head
--- @include lib/queued_entry
--- @include lib/push_prioritized
local schedule = KEYS[1]
local pending = KEYS[2]      -- due jobs of priority 0 go in at the left, like new jobs
local prioritized = KEYS[3]  -- due jobs of priority 1..9
local seq = KEYS[4]          -- the order counter of prioritized jobs
local queued = KEYS[5]       -- a delayed job that never started has its state there, not in a record
local now = ARGV[1]          -- Unix seconds
local limit = tonumber(ARGV[2])
local job_prefix = ARGV[3]

local due = redis.call('ZRANGEBYSCORE', schedule, '-inf', now, 'LIMIT', 0, limit)
for _, entry in ipairs(due) do
  redis.call('ZREM', schedule, entry)
  local id = job_id(entry)
  local priority, cancelled = 0, false
  if id then
    local record = job_prefix .. id
    local fields = redis.call('HMGET', record, FIELD_STATE, FIELD_PRIORITY)
    if fields[1] then
      cancelled = fields[1] == STATE_CANCELLED
      if not cancelled then
        redis.call('HSET', record, FIELD_STATE, STATE_QUEUED)
      end
      priority = tonumber(fields[2]) or 0
    else
      local meta = redis.call('HGET', queued, id)
      if meta then  -- the queued entry's mark becomes MARK_QUEUED (protocol.QueuedEntry)
        redis.call('HSET', queued, id, MARK_QUEUED .. string.sub(meta, 2))
        local _
        _, priority = queued_entry(meta)
      end
    end
  end
  if not cancelled and priority > 0 then
    push_prioritized(prioritized, seq, pending, priority, {entry})
  elseif not cancelled then
    redis.call('LPUSH', pending, entry)
  end
end
local next_due = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
return {#due, next_due[2] or false}
