--- @include lib/job_head
--- @include lib/slots
-- Puts a job's record back to queued, uncounts the attempt that did not run to its end and
-- frees its concurrency slots (lib/slots, under conc_prefix; a waiting job goes to pending)
-- (shutdown and reconcile put back jobs that were taken but not run). Returns false when the
-- entry must not go back: the WAKE marker, or a job cancelled meanwhile.
local function unstart(job_prefix, entry, conc_prefix, pending)
  if entry == MARK_WAKE then return false end
  local id = job_id(entry)
  if not id then return true end
  local record = job_prefix .. id
  local state = redis.call('HGET', record, FIELD_STATE)
  if state then
    release_slots(conc_prefix, record, id, pending)
  end
  if state == STATE_CANCELLED then return false end
  if state then
    redis.call('HSET', record, FIELD_STATE, STATE_QUEUED)
    redis.call('HINCRBY', record, FIELD_ATTEMPTS, -1)
  end
  return true
end
