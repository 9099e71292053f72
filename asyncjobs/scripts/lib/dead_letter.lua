--- @include lib/msgpack_write
--- @include lib/outcome
--- @include lib/unique
--- @include lib/event
--- @include lib/dependents
-- protocol.DeadLetter, encoded: [reason, message, payload, queue, worker_id, at, job_id]
local function encode_dead_letter(reason, message, payload, queue, worker, at, id)
  return '\151' .. mp_str(reason) .. mp_str(message) .. mp_bin(payload) .. mp_str(queue)
    .. mp_str(worker) .. '\203' .. struct.pack('>d', tonumber(at)) .. (id and mp_str(id) or '\192')
end

-- protocol.Outcome of a dead-lettered job, encoded
local function encode_dead_outcome(reason, message)
  return encode_error_outcome(ERROR_DEAD, reason, message)
end

-- Dead-letters a job whose entry the caller has already taken out of its list:
-- d.letter (an encoded DeadLetter) goes in at the left of d.list, capped at d.cap entries, the
-- list expiring d.list_ttl ms after its last entry; d.stats counts it, and so does the hash of
-- this minute's counters d.minute (kept d.minute_ttl seconds, as finish.lua keeps it); when
-- the job's record d.record is known, it gets d.outcome (kept d.record_ttl ms), the unique key
-- it holds is freed (under d.unique_prefix) and a notice of d.id goes out on d.done for the
-- job's waiters; a `dead` event with d.reason goes to d.events (lib/event; d.id may be '': not
-- readable); the jobs waiting for it are cancelled (lib/dependents).
local function dead_letter(d)
  redis.call('LPUSH', d.list, d.letter)
  redis.call('LTRIM', d.list, 0, tonumber(d.cap) - 1)
  redis.call('PEXPIRE', d.list, d.list_ttl)
  redis.call('HINCRBY', d.stats, STAT_DEAD, 1)
  redis.call('HINCRBY', d.minute, STATE_DEAD, 1)
  redis.call('EXPIRE', d.minute, d.minute_ttl)
  if d.record then
    redis.call('HSET', d.record, FIELD_OUTCOME, d.outcome, FIELD_STATE, STATE_DEAD,
      FIELD_FINISHED_AT, d.at)
    redis.call('PEXPIRE', d.record, d.record_ttl)
    release_unique(d.unique_prefix, redis.call('HGET', d.record, FIELD_UNIQUE), d.id, true,
      d.record_ttl)
    redis.call(PUBLISH, d.done, d.id)
    release_dependents(string.sub(d.record, 1, #d.record - #d.id - #KEY_JOB), d.id, false,
      d.outcome, {now = d.at, record_ttl = d.record_ttl, events = d.events,
        events_max = d.events_max})
  end
  emit(d.events, d.events_max, EVENT_DEAD, d.id or '', d.reason)
end
