--- @include lib/job_head
-- Puts a job's record back to queued and uncounts the attempt that did not run to its end
-- (shutdown and reconcile put back jobs that were taken but not run).
local function unstart(job_prefix, entry)
  local id = job_id(entry)
  if id and redis.call('EXISTS', job_prefix .. id) == 1 then
    redis.call('HSET', job_prefix .. id, FIELD_STATE, STATE_QUEUED)
    redis.call('HINCRBY', job_prefix .. id, FIELD_ATTEMPTS, -1)
  end
end
