-- Enqueue jobs, each idempotent by its id: now (to the queue) or later (to the schedule).
-- KEYS[1] pending list   (new jobs' bytes go in at the left, in order)
-- KEYS[2] schedule zset  (used instead of the queue when ARGV[3] gives a due time)
-- Each job's record is ARGV[1] .. its id, the id read from its envelope (the prefix carries the
-- queue's hash tag, so the key is in this script's slot): a hash created with state
-- "queued"/"scheduled", task name and enqueued_at; it marks the id as taken.
-- ARGV[1] job record key prefix, ARGV[2] record TTL in ms, ARGV[3] due time (Unix seconds) or
-- '' to run now, ARGV[4] enqueued_at, both for every job of the call; ARGV[5..] encoded
-- envelopes [id, task, args, enqueued_at], built and checked by the caller.
-- Returns one flag a job: 1 when enqueued, 0 when a job with its id already exists (nothing
-- written for it).
local due = ARGV[3]
local state = (due == '') and 'queued' or 'scheduled'
local flags = {}
for i = 5, #ARGV do
  local payload = ARGV[i]
  local id, task = job_head(payload)
  local key = ARGV[1] .. id
  if redis.call('EXISTS', key) == 1 then
    flags[#flags + 1] = 0
  else
    redis.call('HSET', key, 's', state, 't', task, 'e', ARGV[4], 'a', 0)
    redis.call('PEXPIRE', key, ARGV[2])
    if due == '' then
      redis.call('LPUSH', KEYS[1], payload)
    else
      redis.call('ZADD', KEYS[2], due, payload)
    end
    flags[#flags + 1] = 1
  end
end
return flags
