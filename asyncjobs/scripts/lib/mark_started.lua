--- @include lib/job_head
--- @include lib/queued_entry
--- @include lib/outcome
--- @include lib/unique
--- @include lib/slots
--- @include lib/rate
--- @include lib/event
--- @include lib/dependents
-- Marks a job as running in its record and returns its attempt number; or returns 0 when it
-- must not run now: it was cancelled while it waited; its expiry passed before it started (it
-- is then finished here as expired: record, counter, notice); its task's rate does not allow
-- it yet (it then waits in the schedule, lib/rate); or a concurrency group of its is full (it
-- then waits in that group's wait list, lib/slots). The caller drops the entry from its list.
-- A job that has not started before has no record yet, only its queued entry: the record is
-- made from that entry (which leaves the queued hash) and kept s.record_ttl ms. A job's unique
-- key (lib/unique) is freed at its first start when its window is UNIQUE_WHILE_QUEUED, and
-- kept in its record otherwise; so are its limits.
-- s: job_prefix (carries the queue's hash tag, so the record is in the caller's slot), queued,
-- now, record_ttl, stats, done (channel), result_ttl (ms, of an expired job's record),
-- unique_prefix, debounced (the hash of debounced jobs not yet started), conc_prefix,
-- scheduled (lib/rate; it sets s.reserved_at), events and events_max (a `started` or
-- `expired` event, lib/event; with s.started = {ids, data}, `started` events are gathered
-- there, for the caller to write in one entry).
-- Why a job with limits may not start now: 'rate' (it waits in the schedule), 'slots' (in a
-- wait list); nil when it may.
local function held_back(s, limits, task, id, entry)
  local limiters, allowed = rate_check(s, limits, task, entry)
  if not allowed then return 'rate' end
  if not acquire_slots(s.conc_prefix, limits, task, id, entry) then return 'slots' end
  rate_commit(s, limiters)  -- a turn is taken only by a job that starts
  return nil
end

local function started_event(s, id, attempt)
  if s.started then
    s.started.ids[#s.started.ids + 1] = id
    s.started.data[#s.started.data + 1] = attempt
  else
    emit(s.events, s.events_max, EVENT_STARTED, id, attempt)
  end
end

local function mark_started(s, entry)
  local id = job_id(entry)
  if id == nil then return 1 end
  local record = s.job_prefix .. id
  local state = redis.call('HGET', record, FIELD_STATE)
  if state == STATE_CANCELLED then
    return 0
  elseif state then
    local fields = redis.call('HMGET', record, FIELD_LIMITS, FIELD_TASK)
    local why = fields[1] and held_back(s, fields[1], fields[2], id, entry)
    if why == 'rate' then
      redis.call('HSET', record, FIELD_STATE, STATE_SCHEDULED)
    end
    if why then return 0 end
    redis.call('HSET', record, FIELD_STATE, STATE_RUNNING, FIELD_STARTED_AT, s.now)
    local attempt = redis.call('HINCRBY', record, FIELD_ATTEMPTS, 1)
    started_event(s, id, attempt)
    return attempt
  end
  local meta = redis.call('HGET', s.queued, id)
  if not meta then return 1 end
  local enqueued_at, priority, expires_at, task, unique, limits = queued_entry(meta)
  if expires_at and expires_at <= tonumber(s.now) then
    redis.call('HDEL', s.queued, id)
    redis.call('HDEL', s.debounced, id)
    redis.call('HSET', record, FIELD_STATE, STATE_EXPIRED, FIELD_TASK, task,
      FIELD_ENQUEUED_AT, enqueued_at, FIELD_FINISHED_AT, s.now, FIELD_OUTCOME,
      encode_error_outcome(ERROR_EXPIRED, 'JobExpired', 'not started before it expired at ' .. expires_at))
    redis.call('PEXPIRE', record, s.result_ttl)
    release_unique(s.unique_prefix, unique, id, true, s.result_ttl)
    redis.call('HINCRBY', s.stats, STAT_EXPIRED, 1)
    redis.call(PUBLISH, s.done, id)
    emit(s.events, s.events_max, EVENT_EXPIRED, id, '')
    release_dependents(string.sub(s.job_prefix, 1, #s.job_prefix - #KEY_JOB), id, false,
      redis.call('HGET', record, FIELD_OUTCOME),
      {now = s.now, record_ttl = s.result_ttl, events = s.events, events_max = s.events_max})
    return 0
  end
  local why = (limits ~= '') and held_back(s, limits, task, id, entry)
  if why == 'rate' then
    redis.call('HSET', s.queued, id, MARK_SCHEDULED .. string.sub(meta, 2))
  end
  if why then return 0 end  -- it stays queued, in the schedule or a wait list
  redis.call('HDEL', s.queued, id)
  redis.call('HSET', record, FIELD_STATE, STATE_RUNNING, FIELD_STARTED_AT, s.now, FIELD_ATTEMPTS, 1,
    FIELD_ENQUEUED_AT, enqueued_at, FIELD_TASK, task)
  if priority > 0 then
    redis.call('HSET', record, FIELD_PRIORITY, priority)
  end
  if limits ~= '' then
    redis.call('HSET', record, FIELD_LIMITS, limits)
  end
  if unique ~= '' then
    redis.call('HDEL', s.debounced, id)
    release_unique(s.unique_prefix, unique, id, false)
    if string.sub(unique, 1, 1) ~= UNIQUE_WHILE_QUEUED then
      redis.call('HSET', record, FIELD_UNIQUE, unique)
    end
  end
  redis.call('PEXPIRE', record, s.record_ttl)
  started_event(s, id, 1)
  return 1
end
