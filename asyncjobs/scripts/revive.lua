-- Requeue one dead-lettered job: its dead letter leaves the list, its payload goes to the back
-- of the queue, and its record (if the id is known) starts afresh as queued.
-- Returns REPLY_DONE when requeued, REPLY_GONE when the dead letter was no longer in the list.
--- @include lib/job_head
--- @include lib/event
local dead = KEYS[1]
local pending = KEYS[2]
local record = KEYS[3] or false  -- optional (a tail)
local letter = ARGV[1]       -- the dead letter, exact bytes
local payload = ARGV[2]
local record_ttl = ARGV[3]   -- ms
local events = ARGV[4]       -- an `enqueued` event (lib/event)
local events_max = ARGV[5]

if redis.call('LREM', dead, 1, letter) == 0 then
  return REPLY_GONE
end
redis.call('LPUSH', pending, payload)
local id, task = job_head(payload)
emit(events, events_max, EVENT_ENQUEUED, id or '', task or '')
if record then
  redis.call('HDEL', record, FIELD_OUTCOME, FIELD_FINISHED_AT, FIELD_RECOVERIES, FIELD_LAST_ERROR)
  redis.call('HSET', record, FIELD_STATE, STATE_QUEUED, FIELD_ATTEMPTS, 0)
  redis.call('PEXPIRE', record, record_ttl)
end
return REPLY_DONE
