--- @include lib/job_head
-- Claims the id of one encoded envelope for a new job: unless a job with that id exists (a
-- record, or a queued entry), the job's queued entry (head .. its task) goes into queued, and
-- the caller pushes the envelope. Returns true when claimed, false when the id was taken
-- (nothing written), nil when the envelope has no readable id and task.
local function claim_new(queued, job_prefix, head, entry)
  local id, task = job_head(entry)
  if task == nil then return nil end
  if redis.call('EXISTS', job_prefix .. id) == 1
      or redis.call('HSETNX', queued, id, head .. task) == 0 then
    return false
  end
  return true
end
