-- Handles one due slot of a schedule: runs it (enqueues its job), or skips it (past its
-- misfire grace, or its previous job still queued or running), and records it as handled, all
-- in one atomic step. Every worker runs the scheduler and may call this for the same slot;
-- the first call handles it and the others find it handled (REPLY_TAKEN).
--
-- Why a slot is enqueued at most once: the schedule's state (the last slot handled) moves
-- forward only here, in the same step as the enqueue, and a slot at or before it is refused.
-- The job id is the slot's own (cron:<name>:<slot>) and its enqueue is idempotent by id, a
-- second guard while the job's record exists; the state guards after the record has expired.
--
-- Crashes: the worker writes nothing before this call, and this call writes the state and the
-- job together (Redis applies and persists a script's writes as one unit). A worker that dies
-- before the call has handled nothing: the slot stays due, and any worker runs it while it is
-- within its misfire grace. A worker that dies after it, or loses its reply, leaves the job in
-- pending, where recovery takes care of it as of any job; every worker reads the new state on
-- its next pass. A call made from a stale read (the schedule removed or replaced since) does
-- nothing (REPLY_GONE).
--
-- Returns REPLY_DONE (enqueued), REPLY_TAKEN (already handled, or a job with the slot's id
-- exists), REPLY_SKIPPED (previous job still queued or running: STAT_SCHEDULE_SKIPS),
-- REPLY_MISSED (past its grace: STAT_SCHEDULE_MISFIRES) or REPLY_GONE.
--- @include lib/claim_new
--- @include lib/push_prioritized
--- @include lib/event
local schedules = KEYS[1]    -- name -> encoded ScheduleSpec; read only, to check the caller read this one
local state = KEYS[2]        -- name -> '<slot handled> <slot run> <its job id>' ('-' for none); written here only
local pending = KEYS[3]      -- the slot's job goes in at the left, like any new job of priority 0
local prioritized = KEYS[4]  -- or there, with the order counter seq, when its task has a priority
local seq = KEYS[5]
local queued = KEYS[6]       -- its queued entry; also says whether the previous job has started
local stats = KEYS[7]        -- STAT_SCHEDULE_MISFIRES, STAT_SCHEDULE_SKIPS
local name = ARGV[1]
local spec = ARGV[2]         -- the encoded spec the caller decided from
local slot = ARGV[3]         -- Unix seconds, as in the job id (protocol.format_slot)
local run = ARGV[4]          -- '1': run the slot; '0': it is past its misfire grace
local missed = tonumber(ARGV[5])  -- earlier missed slots folded into this one: counted as misfires
local skip_if_running = ARGV[6]   -- '1' or '0'
local job_prefix = ARGV[7]   -- carries the hash tag: the previous job's record is in this slot
local enqueued_at = ARGV[8]
local entry = ARGV[9]        -- the slot's encoded envelope, its id cron:<name>:<slot>
local priority = tonumber(ARGV[10])  -- its task's default priority
local events = ARGV[11]      -- an `enqueued` event for the slot's job (lib/event)
local events_max = ARGV[12]

if redis.call('HGET', schedules, name) ~= spec then
  return REPLY_GONE
end
local handled, ran, last_id = '-', '-', '-'
local current = redis.call('HGET', state, name)
if current then
  local h, r, i = string.match(current, '^(%S+) (%S+) (%S+)$')
  if h then
    if tonumber(slot) <= tonumber(h) then
      return REPLY_TAKEN
    end
    handled, ran, last_id = h, r, i
  end
end

local function still_running(id)
  if redis.call('HEXISTS', queued, id) == 1 then return true end
  local s = redis.call('HGET', job_prefix .. id, FIELD_STATE)
  return s == STATE_RUNNING or s == STATE_QUEUED or s == STATE_SCHEDULED
end

if missed > 0 then
  redis.call('HINCRBY', stats, STAT_SCHEDULE_MISFIRES, missed)
end
local reply
if run ~= '1' then
  redis.call('HINCRBY', stats, STAT_SCHEDULE_MISFIRES, 1)
  reply = REPLY_MISSED
elseif skip_if_running == '1' and last_id ~= '-' and still_running(last_id) then
  redis.call('HINCRBY', stats, STAT_SCHEDULE_SKIPS, 1)
  reply = REPLY_SKIPPED
else
  -- the queued entry's head (protocol.QueuedEntry), as enqueue.lua writes it
  local head = MARK_QUEUED .. enqueued_at .. ((priority > 0) and (',' .. priority) or '') .. ' '
  local claimed = claim_new(queued, job_prefix, head, entry)
  if claimed == nil then
    return redis.error_reply('ERR asyncjobs: the slot envelope has no readable id and task')
  elseif claimed and priority > 0 then
    push_prioritized(prioritized, seq, pending, priority, {entry})
  elseif claimed then
    redis.call('LPUSH', pending, entry)
  end
  ran, last_id = slot, job_id(entry)
  reply = claimed and REPLY_DONE or REPLY_TAKEN
  if claimed then
    local _, task = job_head(entry)
    emit(events, events_max, EVENT_ENQUEUED, last_id, task)
  end
end
redis.call('HSET', state, name, slot .. ' ' .. ran .. ' ' .. last_id)
return reply
