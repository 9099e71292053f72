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
-- [id, task, args, enqueued_at], built and checked by the caller.
-- Returns one flag a job: 1 when enqueued, 0 when a job with its id already exists (nothing
-- written for it).
local due = ARGV[2]
local head = ((due == '') and 'q' or 's') .. ARGV[3] .. ' '
local flags = {}
for i = 4, #ARGV do
  local payload = ARGV[i]
  local id, task = job_head(payload)
  if redis.call('EXISTS', ARGV[1] .. id) == 1 or redis.call('HSETNX', KEYS[2], id, head .. task) == 0 then
    flags[#flags + 1] = 0
  elseif due == '' then
    redis.call('LPUSH', KEYS[1], payload)
    flags[#flags + 1] = 1
  else
    redis.call('ZADD', KEYS[1], due, payload)
    flags[#flags + 1] = 1
  end
end
return flags
