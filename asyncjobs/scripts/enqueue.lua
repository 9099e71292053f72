-- Enqueue jobs, each idempotent by its id: now (to the queue) or later (to the schedule).
-- KEYS[1] where the jobs go: the pending list (in at the left, in order), or the schedule zset
--         when ARGV[2] gives a due time
-- KEYS[2] queued hash    (job id -> "<state letter q|s><enqueued_at> <task>": marks the id as
--                         taken and answers job() until the job starts and gets its record)
-- A job's record is ARGV[1] .. its id, the id read from its envelope (the prefix carries the
-- queue's hash tag, so the key is in this script's slot); only read here: an id with a record
-- is taken too.
-- ARGV[1] job record key prefix, ARGV[2] due time (Unix seconds) or '' to run now,
-- ARGV[3] enqueued_at, both for every job of the call; ARGV[4..] encoded envelopes
-- [id, task, args, enqueued_at], built and checked by the caller (at most a few thousand).
-- Returns one flag a job: 1 when enqueued, 0 when a job with its id already exists (nothing
-- written for it). The writes are one HSET and one LPUSH (or ZADD) for all jobs of the call.
local due = ARGV[2]
local head = ((due == '') and 'q' or 's') .. ARGV[3] .. ' '
if #ARGV == 4 then  -- one job, the common .delay(): the same steps, three commands, no tables
  local id, task = job_head(ARGV[4])
  if redis.call('EXISTS', ARGV[1] .. id) == 1 or redis.call('HSETNX', KEYS[2], id, head .. task) == 0 then
    return {0}
  end
  if due == '' then
    redis.call('LPUSH', KEYS[1], ARGV[4])
  else
    redis.call('ZADD', KEYS[1], due, ARGV[4])
  end
  return {1}
end
local ids, tasks = {}, {}
for i = 4, #ARGV do
  ids[i - 3], tasks[i - 3] = job_head(ARGV[i])
end
local metas = redis.call('HMGET', KEYS[2], unpack(ids))
local flags, fields, entries, seen = {}, {}, {}, {}
for j, id in ipairs(ids) do
  if metas[j] or seen[id] or redis.call('EXISTS', ARGV[1] .. id) == 1 then
    flags[j] = 0
  else
    seen[id] = true
    flags[j] = 1
    fields[#fields + 1] = id
    fields[#fields + 1] = head .. tasks[j]
    if due ~= '' then
      entries[#entries + 1] = due
    end
    entries[#entries + 1] = ARGV[j + 3]
  end
end
if #fields > 0 then
  redis.call('HSET', KEYS[2], unpack(fields))
  redis.call((due == '') and 'LPUSH' or 'ZADD', KEYS[1], unpack(entries))
end
return flags
