-- Finish jobs: each is removed from our processing list and its outcome stored, in one atomic step
-- for all of them (the worker records every job that finished while its previous call was in flight).
-- KEYS[1] processing list   (ours; an entry must be there, else we lost ownership of that job)
-- KEYS[2] stats hash        (queue-wide counters)
-- KEYS[3..] job records     (one a job, in order; hash: outcome 'r' set once, first completion
--                            wins; then its TTL)
-- ARGV[1] done channel, then 7 a job: entry, state ('complete' or 'failed'), encoded outcome,
-- finished_at, record TTL in ms, the notice to publish (the job id, with the outcome when it is
-- small), this execution's token (worker id and attempt, kept in the record as 'fw')
-- Returns one flag a job: 1 when stored (or already stored by this same execution, whose reply
-- was lost), 0 when not ours or already finished by another execution (counted as a duplicate).
local stored = {}
for i = 3, #KEYS do
  local a = 2 + (i - 3) * 7
  local entry, state, outcome, token = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 6]
  local record = KEYS[i]
  local ok = 0
  if redis.call('LREM', KEYS[1], -1, entry) == 0 then
    if redis.call('HGET', record, 'fw') == token then
      ok = 1
    else
      count_duplicate(record, KEYS[2], token)
    end
  elseif redis.call('HSETNX', record, 'r', outcome) == 0 then
    count_duplicate(record, KEYS[2], token)
  else
    redis.call('HSET', record, 's', state, 'f', ARGV[a + 3], 'fw', token)
    redis.call('PEXPIRE', record, ARGV[a + 4])
    redis.call('HINCRBY', KEYS[2], state, 1)
    redis.call('PUBLISH', ARGV[1], ARGV[a + 5])
    ok = 1
  end
  stored[#stored + 1] = ok
end
return stored
