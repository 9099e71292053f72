-- Finish jobs: each is removed from our processing list and its outcome stored, in one atomic
-- step for all of them (the worker records every job that finished while its previous call
-- was in flight). In a record the outcome is set once: the first execution to finish wins (a
-- cancellation sets it too: the run then only leaves our list). A job that failed also keeps
-- its entry (its call) in its record and enters the failed index, for `asyncjobs jobs --status
-- failed` and a retry by hand (rerun.lua). A job's unique key and concurrency slots are freed,
-- its log lines (note.lua) expire with its record, and the jobs waiting for it are freed, or
-- cancelled when it did not complete (lib/dependents).
-- Returns one reply per job: REPLY_DONE when stored (or already stored by this same
-- execution, whose reply was lost), REPLY_NOT_OURS when not ours or already finished by
-- another execution (counted once as a duplicate).
--- @include lib/count_duplicate
--- @include lib/unique
--- @include lib/slots
--- @include lib/event
--- @include lib/dependents
local processing = KEYS[1]   -- ours; an entry must be there, else we lost ownership of that job
local stats = KEYS[2]
local minute = KEYS[3]       -- this minute's counters (throughput history), kept minute_ttl
local pending = KEYS[4]      -- a job waiting for a freed concurrency slot goes back in (lib/slots)
local failed = KEYS[5]       -- index of failed job ids by finish time, the newest failed_kept
-- KEYS[6..]: the job records, one per job, in order
local done = ARGV[1]         -- the channel for the notices
local minute_ttl = ARGV[2]   -- seconds
local unique_prefix = ARGV[3]  -- a job's unique key is freed (lib/unique)
local conc_prefix = ARGV[4]  -- its concurrency slots are freed (lib/slots)
local failed_kept = tonumber(ARGV[5])
local job_prefix = ARGV[6]   -- a record's key is job_prefix .. its id
local logs_prefix = ARGV[7]  -- a job's logs key is logs_prefix .. its id
local events = ARGV[8]       -- an event per job stored: completed, failed or cancelled
local events_max = ARGV[9]
-- ARGV[10..]: seven per job: entry, state (STATE_COMPLETE, STATE_FAILED or STATE_CANCELLED),
-- encoded outcome, finished_at, record TTL in ms, the notice to publish, this execution's token
local FIRST_RECORD, FIRST_JOB, PER_JOB = 6, 10, 7
local base = string.sub(job_prefix, 1, #job_prefix - #KEY_JOB)  -- the queue's key_base
local KIND_OF = {[STATE_COMPLETE] = EVENT_COMPLETED, [STATE_FAILED] = EVENT_FAILED,
  [STATE_CANCELLED] = EVENT_CANCELLED}

local replies = {}
local ended = {}  -- by event kind: the ids of the jobs stored, for one entry each (lib/event)
local counts = {}  -- by state: the jobs stored, counted in stats and minute once a call
for i = FIRST_RECORD, #KEYS do
  local record = KEYS[i]
  local a = FIRST_JOB + (i - FIRST_RECORD) * PER_JOB
  local entry, state, outcome, finished_at = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local record_ttl, notice, token = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  local id = string.sub(record, #job_prefix + 1)  -- the entry's id (its record's key is built so)
  local reply = REPLY_NOT_OURS
  if redis.call('LREM', processing, -1, entry) == 0 then
    if redis.call('HGET', record, FIELD_FINISHED_BY) == token then
      reply = REPLY_DONE
    else
      count_duplicate(record, stats, token)
    end
  elseif redis.call('HSETNX', record, FIELD_OUTCOME, outcome) == 0 then
    if redis.call('HGET', record, FIELD_STATE) == STATE_CANCELLED then
      reply = REPLY_DONE  -- cancelled while it ran: the cancellation is its outcome
      release_slots(conc_prefix, record, id, pending)
      if redis.call('HEXISTS', record, FIELD_LOGGED) == 1 then
        redis.call('PEXPIRE', logs_prefix .. id, redis.call('PTTL', record))
      end
    else
      count_duplicate(record, stats, token)
    end
  else
    redis.call('HSET', record, FIELD_STATE, state, FIELD_FINISHED_AT, finished_at,
      FIELD_FINISHED_BY, token)
    if state == STATE_FAILED then  -- listed, and kept for a retry by hand (rerun.lua)
      redis.call('HSET', record, FIELD_PAYLOAD, entry)
      redis.call('ZADD', failed, finished_at, id)
      redis.call('ZREMRANGEBYRANK', failed, 0, -failed_kept - 1)
      if redis.call('PTTL', failed) < tonumber(record_ttl) then
        redis.call('PEXPIRE', failed, record_ttl)
      end
    end
    redis.call('PEXPIRE', record, record_ttl)
    local held = redis.call('HMGET', record, FIELD_UNIQUE, FIELD_LIMITS, FIELD_LOGGED)
    if held[1] then
      release_unique(unique_prefix, held[1], id, true, record_ttl)
    end
    if held[2] then
      release_slots(conc_prefix, record, id, pending)
    end
    if held[3] then
      redis.call('PEXPIRE', logs_prefix .. id, record_ttl)
    end
    counts[state] = (counts[state] or 0) + 1
    redis.call(PUBLISH, done, notice)
    local kind = KIND_OF[state]
    ended[kind] = ended[kind] or {ids = {}, data = {}}
    ended[kind].ids[#ended[kind].ids + 1] = id
    ended[kind].data[#ended[kind].data + 1] = ''
    release_dependents(base, id, state == STATE_COMPLETE, outcome,
      {now = finished_at, record_ttl = record_ttl, events = events, events_max = events_max})
    reply = REPLY_DONE
  end
  replies[#replies + 1] = reply
end
for kind, jobs in pairs(ended) do
  emit_all(events, events_max, kind, jobs.ids, jobs.data)
end
for state, n in pairs(counts) do
  redis.call('HINCRBY', stats, state, n)
  redis.call('HINCRBY', minute, state, n)
end
redis.call('EXPIRE', minute, minute_ttl)
return replies
