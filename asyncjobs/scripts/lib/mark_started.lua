--- @include lib/job_head
-- Marks a job as running in its record and returns its attempt number. A job that has not
-- started before has no record yet, only its queued entry: the record is made from that entry
-- (which leaves the queued hash) and kept ttl ms. job_prefix carries the queue's hash tag, so
-- the record is in the calling script's slot.
local function mark_started(job_prefix, queued, entry, now, ttl)
  local id = job_id(entry)
  if id == nil then return 1 end
  local record = job_prefix .. id
  if redis.call('EXISTS', record) == 1 then
    redis.call('HSET', record, FIELD_STATE, STATE_RUNNING, FIELD_STARTED_AT, now)
    return redis.call('HINCRBY', record, FIELD_ATTEMPTS, 1)
  end
  local meta = redis.call('HGET', queued, id)
  if not meta then return 1 end
  redis.call('HDEL', queued, id)
  -- the queued entry: its mark, the enqueue time, a space, the task name (protocol.QueuedEntry)
  local space = string.find(meta, ' ', 2, true) or (#meta + 1)
  redis.call('HSET', record, FIELD_STATE, STATE_RUNNING, FIELD_STARTED_AT, now, FIELD_ATTEMPTS, 1,
    FIELD_ENQUEUED_AT, string.sub(meta, 2, space - 1), FIELD_TASK, string.sub(meta, space + 1))
  redis.call('PEXPIRE', record, ttl)
  return 1
end
