-- Requeue one dead-lettered job: its dead-letter record leaves the list, its payload goes to
-- the back of the queue, and its record (if the id is known) starts afresh as "queued".
-- KEYS[1] dead-letter list, KEYS[2] pending list, KEYS[3] job record (optional)
-- ARGV[1] the dead-letter record (exact bytes), ARGV[2] the payload, ARGV[3] record TTL ms
-- Returns 1 when requeued, 0 when the record was no longer in the list.
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[2])
if KEYS[3] then
  redis.call('HDEL', KEYS[3], 'r', 'f', 'rc', 'le')
  redis.call('HSET', KEYS[3], 's', 'queued', 'a', 0)
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return 1
