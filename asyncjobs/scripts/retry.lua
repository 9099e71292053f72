-- Schedule a failed job's next attempt: move it from our processing list into the schedule.
-- A job cancelled while it ran only leaves our list.
-- Returns REPLY_DONE when scheduled (or dropped as cancelled), REPLY_NOT_OURS when the entry was no longer ours
-- (counted once as a duplicate).
--- @include lib/count_duplicate
--- @include lib/slots
--- @include lib/event
local processing = KEYS[1]   -- ours; the entry must be there, else we lost ownership
local schedule = KEYS[2]     -- the entry, scored by its due time (promote.lua moves it on)
local record = KEYS[3]       -- state scheduled, the last error kept
local stats = KEYS[4]
local pending = KEYS[5]      -- a job waiting for the concurrency slot it frees goes back in
local entry = ARGV[1]
local due = ARGV[2]          -- Unix seconds
local last_error = ARGV[3]   -- "Type: message" of the failure
local token = ARGV[4]        -- this execution's
local id = ARGV[5]
local conc_prefix = ARGV[6]  -- the job's concurrency slots are freed until it runs again
local events = ARGV[7]       -- a `retrying` event (lib/event)
local events_max = ARGV[8]

if redis.call('LREM', processing, -1, entry) == 0 then
  count_duplicate(record, stats, token)
  return REPLY_NOT_OURS
end
release_slots(conc_prefix, record, id, pending)
local state = redis.call('HGET', record, FIELD_STATE)
if state == STATE_CANCELLED then  -- cancelled while it ran: never retried
  return REPLY_DONE
end
redis.call('ZADD', schedule, due, entry)
if state then
  redis.call('HSET', record, FIELD_STATE, STATE_SCHEDULED, FIELD_LAST_ERROR, last_error)
end
redis.call('HINCRBY', stats, STAT_RETRIED, 1)
emit(events, events_max, EVENT_RETRYING, id, due .. ' ' .. last_error)
return REPLY_DONE
