-- Enqueue jobs, each idempotent by its id: now (to the queue) or later (to the schedule).
-- A job's record key is job_prefix .. its id, the id read from its envelope (the prefix
-- carries the queue's hash tag, so the key is in this script's slot); only read here: an id
-- with a record is taken too.
-- Returns one reply per job: REPLY_DONE when enqueued, REPLY_TAKEN when a job with its id
-- already exists (nothing written for it). The writes are one HSET and one LPUSH (or ZADD)
-- for all jobs of the call.
--- @include lib/job_head
local target = KEYS[1]       -- the pending list (in at the left, in order), or the schedule zset when due is given
local queued = KEYS[2]       -- queued hash: job id -> queued entry; marks the id as taken until the job starts
local job_prefix = ARGV[1]
local due = ARGV[2]          -- Unix seconds, or '' to run now
local enqueued_at = ARGV[3]
-- ARGV[4..]: encoded envelopes, built and checked by the caller (at most a few thousand)
local FIRST = 4

local head = ((due == '') and MARK_QUEUED or MARK_SCHEDULED) .. enqueued_at .. ' '
local function unreadable(i)
  return redis.error_reply('ERR asyncjobs: envelope ' .. (i - FIRST + 1) .. ' has no readable id and task')
end
if #ARGV == FIRST then  -- one job, the common .delay(): the same steps, three commands, no tables
  local entry = ARGV[FIRST]
  local id, task = job_head(entry)
  if task == nil then return unreadable(FIRST) end
  if redis.call('EXISTS', job_prefix .. id) == 1 or redis.call('HSETNX', queued, id, head .. task) == 0 then
    return {REPLY_TAKEN}
  end
  if due == '' then
    redis.call('LPUSH', target, entry)
  else
    redis.call('ZADD', target, due, entry)
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
    seen[id] = true
    replies[j] = REPLY_DONE
    fields[#fields + 1] = id
    fields[#fields + 1] = head .. tasks[j]
    if due ~= '' then
      entries[#entries + 1] = due
    end
    entries[#entries + 1] = ARGV[j + FIRST - 1]
  end
end
if #fields > 0 then
  redis.call('HSET', queued, unpack(fields))
  redis.call((due == '') and 'LPUSH' or 'ZADD', target, unpack(entries))
end
return replies
