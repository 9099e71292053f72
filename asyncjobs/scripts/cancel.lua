-- Cancel a job that has not finished. A job that has not started (queued, scheduled) has only
-- its queued entry: that entry leaves the hash and its record is made, final. A job with a
-- record (running, or waiting for a retry or after a recovery) gets the final state in it.
-- Either way the outcome is stored and waiters are told at once; the job's entry, wherever it
-- is (a list, the schedule, a worker's processing list), is dropped by the next script that
-- moves it (they all check for STATE_CANCELLED), and the worker running it is told on the
-- control channel to stop it.
-- Returns REPLY_DONE when cancelled now or before, REPLY_NOT_OURS when the job finished
-- otherwise or is unknown (nothing changed).
--- @include lib/queued_entry
--- @include lib/unique
--- @include lib/event
--- @include lib/dependents
local queued = KEYS[1]       -- the job's queued entry, if it never started
local record = KEYS[2]       -- the job's record: made or updated, kept result_ttl
local stats = KEYS[3]
local debounced = KEYS[4]    -- a debounced job leaves it
local id = ARGV[1]
local outcome = ARGV[2]      -- the encoded Outcome of a cancelled job
local now = ARGV[3]
local result_ttl = ARGV[4]   -- ms
local done = ARGV[5]         -- the channel for the notices
local control = ARGV[6]      -- the workers' channel
local unique_prefix = ARGV[7]  -- the job's unique key is freed (lib/unique)
local events = ARGV[8]       -- `cancelled` events (lib/event), its dependents' too
local events_max = ARGV[9]

local meta = redis.call('HGET', queued, id)
local state = redis.call('HGET', record, FIELD_STATE)
local unique = redis.call('HGET', record, FIELD_UNIQUE)
if meta then
  redis.call('HDEL', queued, id)
  redis.call('HDEL', debounced, id)
  local base = string.sub(record, 1, #record - #id - #KEY_JOB)
  redis.call('HDEL', base .. KEY_WAITING, id)  -- if it waited for others (lib/dependents)
  redis.call('HDEL', base .. KEY_AFTER, id)
  redis.call('DEL', base .. KEY_GATHERED .. id)
  local enqueued_at, priority, _, task, queued_unique = queued_entry(meta)
  unique = queued_unique
  redis.call('HSET', record, FIELD_TASK, task, FIELD_ENQUEUED_AT, enqueued_at, FIELD_ATTEMPTS, 0)
  if priority > 0 then
    redis.call('HSET', record, FIELD_PRIORITY, priority)
  end
elseif state == STATE_CANCELLED then
  return REPLY_DONE
elseif state ~= STATE_QUEUED and state ~= STATE_SCHEDULED and state ~= STATE_RUNNING then
  return REPLY_NOT_OURS
end
redis.call('HSET', record, FIELD_STATE, STATE_CANCELLED, FIELD_OUTCOME, outcome,
  FIELD_FINISHED_AT, now)
redis.call('HDEL', record, FIELD_LAST_ERROR)
redis.call('PEXPIRE', record, result_ttl)
release_unique(unique_prefix, unique, id, true, result_ttl)
redis.call('HINCRBY', stats, STAT_CANCELLED, 1)
redis.call(PUBLISH, done, id)
emit(events, events_max, EVENT_CANCELLED, id, '')
release_dependents(string.sub(record, 1, #record - #id - #KEY_JOB), id, false, outcome,
  {now = now, record_ttl = result_ttl, events = events, events_max = events_max})
if state == STATE_RUNNING then
  redis.call(PUBLISH, control, CONTROL_CANCEL .. ' ' .. id)
end
return REPLY_DONE
