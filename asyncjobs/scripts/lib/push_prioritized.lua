-- Adds entries of one priority (1..PRIORITY_MAX) to the prioritized zset, after every entry of
-- that priority already there (protocol.priority_score), and wakes a blocked worker: a worker
-- with nothing to do blocks on the pending list alone, so when that list is empty the WAKE
-- marker goes in (protocol.QueueKeys).
local function push_prioritized(prioritized, seq, pending, priority, entries)
  local last = redis.call('INCRBY', seq, #entries)
  local base = (PRIORITY_MAX - priority) * PRIORITY_SPAN + last - #entries
  local scored = {}
  for i, entry in ipairs(entries) do
    scored[2 * i - 1], scored[2 * i] = base + i, entry
  end
  redis.call('ZADD', prioritized, unpack(scored))
  if redis.call('LLEN', pending) == 0 then
    redis.call('LPUSH', pending, MARK_WAKE)
  end
end
