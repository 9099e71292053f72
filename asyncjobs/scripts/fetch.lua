-- Take up to n jobs without blocking (reliable fetch: each moves atomically into our own list)
-- and mark each as running.
-- Returns a flat array: entry1, attempt1, entry2, attempt2, ...
--- @include lib/mark_started
local pending = KEYS[1]      -- taken from the right, the oldest end
local processing = KEYS[2]   -- this worker's own; entries go in at the left
local queued = KEYS[3]       -- a job's queued entry leaves it when its record is made
local n = tonumber(ARGV[1])
local job_prefix = ARGV[2]
local now = ARGV[3]
local record_ttl = ARGV[4]   -- ms, of a record made here

local out = {}
for _ = 1, n do
  local entry = redis.call('LMOVE', pending, processing, 'RIGHT', 'LEFT')
  if not entry then break end
  out[#out + 1] = entry
  out[#out + 1] = mark_started(job_prefix, queued, entry, now, record_ttl)
end
return out
