-- Take up to N jobs without blocking (reliable fetch: each moves atomically into our own list).
-- KEYS[1] pending list      (taken from the right, the oldest end)
-- KEYS[2] processing list   (this worker's own; entries go in at the left)
-- KEYS[3] queued hash       (a job's entry leaves it when its record is made, see mark_started)
-- ARGV[1] N, ARGV[2] job record key prefix (each job's record is marked running), ARGV[3] now,
-- ARGV[4] TTL in ms of a record made here
-- Returns a flat array: entry1, attempt1, entry2, attempt2, ...
local out = {}
for _ = 1, tonumber(ARGV[1]) do
  local entry = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not entry then break end
  out[#out + 1] = entry
  out[#out + 1] = mark_started(ARGV[2], KEYS[3], entry, ARGV[3], ARGV[4])
end
return out
