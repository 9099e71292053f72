-- Enqueue jobs, each idempotent by its id: now (to the queue) or later (to the schedule).
-- A job's record key is job_prefix .. its id, the id read from its envelope (the prefix
-- carries the queue's hash tag, so the key is in this script's slot); only read here: an id
-- with a record is taken too.
-- A job with a unique key (one job per call) is enqueued only while no other job holds the key
-- (lib/unique); else nothing is written, and the reply is the holder's id; a debounced one
-- then replaces the holder's arguments and due time, if the holder has not started.
-- Returns one reply per job: REPLY_DONE when enqueued, REPLY_TAKEN when a job with its id
-- already exists (nothing written for it), the id of the job holding its unique key. The
-- writes are one HSET and one LPUSH (or ZADD) for all jobs of the call, and an `enqueued`
-- event per job enqueued (lib/event).
--- @include lib/claim_new
--- @include lib/event
--- @include lib/push_prioritized
--- @include lib/unique
--- @include lib/queued_head
local pending = KEYS[1]      -- jobs of priority 0 to run now go in at the left, in order
local prioritized = KEYS[2]  -- jobs of priority 1..9 to run now, by priority then order
local seq = KEYS[3]          -- the order counter of prioritized jobs
local scheduled = KEYS[4]    -- jobs to run later (due given), by due time
local queued = KEYS[5]       -- queued hash: job id -> queued entry; marks the id as taken until the job starts
local debounced = KEYS[6]    -- job id -> envelope of each debounced job not yet started
local job_prefix = ARGV[1]
local unique_prefix = ARGV[2]
local due = ARGV[3]          -- Unix seconds, or '' to run now
local priority = tonumber(ARGV[4])  -- 0..PRIORITY_MAX
local expires_at = ARGV[5]   -- Unix seconds, or '': not started by then, never runs
local unique = ARGV[6]       -- '' or the unique key with its window mark (protocol.When.unique)
local debounce = ARGV[7]     -- '1': a later enqueue with the unique key replaces this job
local limits = ARGV[8]       -- '' or the concurrency limits (protocol.When.limits, lib/slots)
local events = ARGV[9]       -- the event stream, or '' when events are off (lib/event)
local events_max = ARGV[10]
local enqueued_at = ARGV[11]
-- ARGV[12..]: encoded envelopes, built and checked by the caller (at most a few thousand)
local FIRST = 12

local head = queued_head((due == '') and MARK_QUEUED or MARK_SCHEDULED, enqueued_at, priority,
  expires_at, unique, limits)
local function unreadable(i)
  return redis.error_reply('ERR asyncjobs: envelope ' .. (i - FIRST + 1) .. ' has no readable id and task')
end
local function push(entries)
  if due ~= '' then
    local scored = {}
    for i, entry in ipairs(entries) do
      scored[2 * i - 1], scored[2 * i] = due, entry
    end
    redis.call('ZADD', scheduled, unpack(scored))
  elseif priority > 0 then
    push_prioritized(prioritized, seq, pending, priority, entries)
  else
    redis.call('LPUSH', pending, unpack(entries))
  end
end
if unique ~= '' and #ARGV ~= FIRST then
  return redis.error_reply('ERR asyncjobs: a job with a unique key is enqueued alone')
end
if #ARGV == FIRST then  -- one job, the common .delay(): the same steps, three commands
  local entry = ARGV[FIRST]
  local held = (unique ~= '') and (unique_prefix .. string.sub(unique, 2))
  local holder = held and redis.call('GET', held)
  if holder then
    local old = (debounce == '1') and redis.call('HGET', debounced, holder)
    if old and redis.call('ZREM', scheduled, old) == 1 then
      -- the holder waits in the schedule: it takes this call's arguments and due time (once
      -- due, it is too late: it is on its way to a worker)
      local replaced = with_id(entry, holder)
      redis.call('ZADD', scheduled, due, replaced)
      redis.call('HSET', debounced, holder, replaced)
    end
    return {holder}
  end
  local claimed = claim_new(queued, job_prefix, head, entry)
  if claimed == nil then return unreadable(FIRST) end
  if not claimed then
    return {REPLY_TAKEN}
  end
  if held then
    redis.call('SET', held, job_id(entry))
    if debounce == '1' then
      redis.call('HSET', debounced, job_id(entry), entry)
    end
  end
  if due == '' and priority == 0 then
    redis.call('LPUSH', pending, entry)
  else
    push({entry})
  end
  if events ~= '' then
    local id, task = job_head(entry)
    emit(events, events_max, EVENT_ENQUEUED, id, task)
  end
  return {REPLY_DONE}
end
local ids, tasks = {}, {}
for i = FIRST, #ARGV do
  local id, task = job_head(ARGV[i])
  if task == nil then return unreadable(i) end
  ids[i - FIRST + 1], tasks[i - FIRST + 1] = id, task
end
local metas = redis.call('HMGET', queued, unpack(ids))
local replies, fields, entries, seen = {}, {}, {}, {}
for j, id in ipairs(ids) do
  if metas[j] or seen[id] or redis.call('EXISTS', job_prefix .. id) == 1 then
    replies[j] = REPLY_TAKEN
  else
    seen[id] = j
    replies[j] = REPLY_DONE
    fields[#fields + 1] = id
    fields[#fields + 1] = head .. tasks[j]
    entries[#entries + 1] = ARGV[j + FIRST - 1]
  end
end
if #fields > 0 then
  redis.call('HSET', queued, unpack(fields))
  push(entries)
  local fresh, names = {}, {}
  for j = 1, #fields, 2 do
    fresh[#fresh + 1], names[#names + 1] = fields[j], tasks[seen[fields[j]]]
  end
  emit_all(events, events_max, EVENT_ENQUEUED, fresh, names)
end
return replies
