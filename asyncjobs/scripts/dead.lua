-- Dead-letter a job that cannot run (undecodable, unknown task, bad arguments).
-- KEYS[1] processing list   (ours; the entry leaves it)
-- KEYS[2] dead-letter list  (the record goes in at the left, trimmed to ARGV[3] entries;
--                            it expires ARGV[9] ms after its last entry)
-- KEYS[3] stats hash
-- KEYS[4] job record        (optional: only when the job id could be read)
-- ARGV[1] entry, ARGV[2] encoded dead-letter record, ARGV[3] cap,
-- ARGV[4] encoded outcome, ARGV[5] finished_at, ARGV[6] record TTL in ms, ARGV[7] job id,
-- ARGV[8] done channel, ARGV[9] dead-letter TTL ms
-- Returns 1 when dead-lettered, 0 when the entry was no longer ours.
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  redis.call('HINCRBY', KEYS[3], 'duplicate_completions', 1)
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[9])
redis.call('HINCRBY', KEYS[3], 'dead', 1)
if KEYS[4] then
  redis.call('HSET', KEYS[4], 'r', ARGV[4], 's', 'dead', 'f', ARGV[5])
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
  redis.call('PUBLISH', ARGV[8], ARGV[7])
end
return 1
