--- @include lib/job_head
-- Enqueues one encoded envelope to run now, the steps of enqueue.lua's one-job path: unless a
-- job with its id exists (a record, or a queued entry), its queued entry goes into queued and
-- the envelope in at the left of pending. Returns true when enqueued, false when the id was
-- taken (nothing written), nil when the envelope has no readable id and task.
local function push_new(pending, queued, job_prefix, enqueued_at, entry)
  local id, task = job_head(entry)
  if task == nil then return nil end
  if redis.call('EXISTS', job_prefix .. id) == 1
      or redis.call('HSETNX', queued, id, MARK_QUEUED .. enqueued_at .. ' ' .. task) == 0 then
    return false
  end
  redis.call('LPUSH', pending, entry)
  return true
end
