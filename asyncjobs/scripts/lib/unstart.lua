--- @include lib/job_head
--- @include lib/slots
-- Undoes the start of a job taken but not run to its end (shutdown and reconcile put such jobs
-- back): a running job's record goes back to queued, the attempt that did not run to its end
-- is uncounted and its concurrency slots are freed (lib/slots, under conc_prefix; a waiting job
-- goes to pending). A job whose record is not running was never started by this take (a
-- BLMOVE whose start.lua was lost with the connection): its record and slots are left as they
-- are (its last attempt and its slots are its own). Returns false when the entry must not go
-- back: the WAKE marker, or a job cancelled meanwhile (whose slots are freed).
local function unstart(job_prefix, entry, conc_prefix, pending)
  if entry == MARK_WAKE then return false end
  local id = job_id(entry)
  if not id then return true end
  local record = job_prefix .. id
  local state = redis.call('HGET', record, FIELD_STATE)
  if state == STATE_RUNNING or state == STATE_CANCELLED then
    release_slots(conc_prefix, record, id, pending)
  end
  if state == STATE_CANCELLED then return false end
  if state == STATE_RUNNING then
    redis.call('HSET', record, FIELD_STATE, STATE_QUEUED)
    redis.call('HINCRBY', record, FIELD_ATTEMPTS, -1)
  end
  return true
end
