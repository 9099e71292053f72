-- Run a failed job again with its original call (``asyncjobs retry``): the payload its record
-- kept when it failed goes back on the queue, to the back of the pending list (priority 0) or
-- into the prioritized zset at the job's priority; the record starts afresh as queued, its
-- attempts, outcome and error cleared, so its waiters wait for the new run.
-- Done only while the record says failed and holds the payload: two calls at once re-run the
-- job once, and a job that finished otherwise (or whose record expired) is left alone.
-- Returns REPLY_DONE when re-enqueued, REPLY_GONE when the job is not failed with its payload.
--- @include lib/push_prioritized
--- @include lib/event
local record = KEYS[1]       -- the failed job's record (state, payload, priority)
local pending = KEYS[2]      -- priority 0 goes in at the left, like a new job
local prioritized = KEYS[3]  -- priority 1..9
local seq = KEYS[4]          -- the order counter of prioritized jobs
local failed = KEYS[5]       -- the index of failed jobs: the id leaves it
local record_ttl = ARGV[1]   -- ms: kept as long as a started job's record
local id = ARGV[2]
local events = ARGV[3]       -- an `enqueued` event (lib/event)
local events_max = ARGV[4]

local fields = redis.call('HMGET', record, FIELD_STATE, FIELD_PAYLOAD, FIELD_PRIORITY, FIELD_TASK)
if fields[1] ~= STATE_FAILED or not fields[2] then
  return REPLY_GONE
end
local priority = tonumber(fields[3]) or 0
if priority > 0 then
  push_prioritized(prioritized, seq, pending, priority, {fields[2]})
else
  redis.call('LPUSH', pending, fields[2])
end
redis.call('HDEL', record, FIELD_OUTCOME, FIELD_FINISHED_AT, FIELD_FINISHED_BY, FIELD_PAYLOAD,
  FIELD_LAST_ERROR, FIELD_RECOVERIES)
redis.call('HSET', record, FIELD_STATE, STATE_QUEUED, FIELD_ATTEMPTS, 0)
redis.call('ZREM', failed, id)
redis.call('PEXPIRE', record, record_ttl)
emit(events, events_max, EVENT_ENQUEUED, id, fields[4] or '')
return REPLY_DONE
