-- Finish a job: remove it from our processing list and store its outcome, in one atomic step.
-- KEYS[1] processing list   (ours; the entry must be there, else we lost ownership)
-- KEYS[2] job record        (hash: outcome 'r' set once, first completion wins; then TTL)
-- KEYS[3] stats hash        (queue-wide counters)
-- ARGV[1] entry, ARGV[2] state ('complete' or 'failed'), ARGV[3] encoded outcome,
-- ARGV[4] finished_at, ARGV[5] record TTL in ms, ARGV[6] job id, ARGV[7] done channel,
-- ARGV[8] this execution's token (worker id and attempt), kept in the record as 'fw'
-- Returns 1 when stored (or already stored by this same execution, whose reply was lost),
-- 0 when not ours or already finished by another execution (counted once as a duplicate).
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  if redis.call('HGET', KEYS[2], 'fw') == ARGV[8] then
    return 1
  end
  count_duplicate(KEYS[2], KEYS[3], ARGV[8])
  return 0
end
if redis.call('HSETNX', KEYS[2], 'r', ARGV[3]) == 0 then
  count_duplicate(KEYS[2], KEYS[3], ARGV[8])
  return 0
end
redis.call('HSET', KEYS[2], 's', ARGV[2], 'f', ARGV[4], 'fw', ARGV[8])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('PUBLISH', ARGV[7], ARGV[6])
return 1
