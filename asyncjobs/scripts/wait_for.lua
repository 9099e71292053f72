-- Enqueue one job that waits for others (after=): unless its id is taken, it is checked
-- against each job it waits for, in one atomic step with nothing written before all are
-- known. Dependencies that completed count as met (a piped job takes the value of the one it
-- follows as its first argument); one that ended otherwise cancels the job at once
-- (AFTER_CANCEL: it is made, final, cancelled) or counts as met (AFTER_RUN). With all met, the
-- job joins the queue now; else it waits (lib/dependents): its envelope in `waiting`, its
-- spec in `after`, its entry marked MARK_WAITING, and its name in the dependents set of each
-- job still to end, which frees it when that job ends (finish.lua, dead.lua, cancel.lua...).
-- Returns {REPLY_DONE}, or {REPLY_TAKEN} when a job with its id exists (nothing written); an
-- error naming the first dependency that does not exist (nothing written).
--- @include lib/job_head
--- @include lib/dependents
--- @include lib/queued_head
local queued = KEYS[1]       -- its queued entry (and that of a dependency in this queue)
local waiting = KEYS[2]      -- its envelope, while it waits
local after = KEYS[3]        -- its spec, while it waits
local pending = KEYS[4]      -- it goes in when nothing is left to wait for (priority 0)
local prioritized = KEYS[5]  -- or there (priority 1..9)
local seq = KEYS[6]
local stats = KEYS[7]        -- counts it when cancelled here
-- KEYS[8..]: three per dependency: its record, its queue's queued hash, its dependents set
local job_prefix = ARGV[1]
local key_base = ARGV[2]     -- of this queue: how its dependencies name it
local priority = tonumber(ARGV[3])
local expires_at = ARGV[4]
local limits = ARGV[5]
local policy = ARGV[6]       -- AFTER_CANCEL or AFTER_RUN
local piped = ARGV[7]        -- PIPED_...: what its first argument is
local enqueued_at = ARGV[8]
local result_ttl = ARGV[9]   -- ms, of its record when it is cancelled here
local wait_ttl = ARGV[10]    -- ms, of the dependents sets (as long as a started job's record)
local events = ARGV[11]
local events_max = ARGV[12]
local done = ARGV[13]        -- the channel for the notices (a job cancelled here has waiters)
local entry = ARGV[14]       -- its encoded envelope
-- ARGV[15..]: the ids of the jobs it waits for, in the order of their KEYS
local FIRST_KEY, FIRST_ID = 8, 15

local id, task = job_head(entry)
if task == nil then
  return redis.error_reply('ERR asyncjobs: the envelope has no readable id and task')
end
if redis.call('EXISTS', job_prefix .. id) == 1 or redis.call('HEXISTS', queued, id) == 1 then
  return {REPLY_TAKEN}
end
local FINAL = {[STATE_COMPLETE] = true, [STATE_FAILED] = true, [STATE_DEAD] = true,
  [STATE_CANCELLED] = true, [STATE_EXPIRED] = true}
local gathered = job_prefix:sub(1, #job_prefix - #KEY_JOB) .. KEY_GATHERED .. id
local open, failed, value = {}, nil, nil
for i = FIRST_ID, #ARGV do
  local dep = ARGV[i]
  local n = i - FIRST_ID + 1  -- its place among the dependencies
  local k = FIRST_KEY + (n - 1) * 3
  local fields = redis.call('HMGET', KEYS[k], FIELD_STATE, FIELD_OUTCOME)
  local state = fields[1]
  if not state and redis.call('HEXISTS', KEYS[k + 1], dep) == 0 then
    return redis.error_reply('ERR asyncjobs: no job to wait for: ' .. dep)  -- scripts.NO_DEPENDENCY
  end
  if state == STATE_COMPLETE then
    value = string.sub(fields[2], 2, -2)  -- of Outcome [value, nil]
    if piped == PIPED_GATHER then
      redis.call('HSET', gathered, n, value)
    end
  elseif FINAL[state] then
    failed = failed or {dep, fields[2]}
  else
    open[#open + 1] = {k + 2, n}
  end
end
emit(events, events_max, EVENT_ENQUEUED, id, task)
if failed and policy == AFTER_CANCEL then
  redis.call('DEL', gathered)
  local record = job_prefix .. id
  local outcome = (piped == PIPED_VALUE) and failed[2] or encode_error_outcome(ERROR_CANCELLED,
    'DependencyFailed', 'its dependency ' .. failed[1] .. ' did not complete')
  redis.call('HSET', record, FIELD_STATE, STATE_CANCELLED, FIELD_OUTCOME, outcome,
    FIELD_FINISHED_AT, enqueued_at, FIELD_TASK, task, FIELD_ENQUEUED_AT, enqueued_at,
    FIELD_ATTEMPTS, 0)
  redis.call('PEXPIRE', record, result_ttl)
  redis.call('HINCRBY', stats, STAT_CANCELLED, 1)
  redis.call(PUBLISH, done, id)
  emit(events, events_max, EVENT_CANCELLED, id, 'dependency_failed')
  return {REPLY_DONE}
end
if piped == PIPED_GATHER then
  redis.call('HSET', gathered, 'count', #ARGV - FIRST_ID + 1)
  redis.call('PEXPIRE', gathered, wait_ttl)
  if #open == 0 then
    entry = with_first_arg(entry, gathered_list(gathered))
  end
elseif piped == PIPED_VALUE and value then
  entry = with_first_arg(entry, value)
end
local head = queued_head(MARK_WAITING, enqueued_at, priority, expires_at, '', limits)
redis.call('HSET', queued, id, head .. task)
if #open == 0 then
  redis.call('HSET', waiting, id, entry)
  release_waiting(key_base, id, entry)
  return {REPLY_DONE}
end
redis.call('HSET', waiting, id, entry)
redis.call('HSET', after, id, #open .. ',' .. policy .. ',' .. piped)
for _, dependents in ipairs(open) do
  redis.call('SADD', KEYS[dependents[1]], key_base .. ' ' .. id .. ' ' .. dependents[2])
  redis.call('PEXPIRE', KEYS[dependents[1]], wait_ttl)
end
return {REPLY_DONE}
