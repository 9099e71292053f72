-- Take up to n jobs without blocking (reliable fetch: each moves atomically into our own list)
-- and mark each as running: prioritized jobs first (highest priority, then oldest), then the
-- pending list from its oldest end. A job cancelled or expired while it waited is dropped
-- (see lib/mark_started), the WAKE marker too.
-- Returns a flat array: entry1, attempt1, entry2, attempt2, ..., and last, when a job over its
-- task's or queue's rate went to the schedule (lib/rate), the earliest such due time; or REPLY_PAUSED,
-- taking nothing, while the queue is paused.
--- @include lib/mark_started
local pending = KEYS[1]      -- taken from the right, the oldest end
local prioritized = KEYS[2]  -- taken before pending, lowest score first
local processing = KEYS[3]   -- this worker's own; entries go in at the left
local queued = KEYS[4]       -- a job's queued entry leaves it when its record is made
local paused = KEYS[5]       -- read only
local stats = KEYS[6]        -- counts expired jobs
local debounced = KEYS[7]    -- a debounced job leaves it when it starts
local scheduled = KEYS[8]    -- a job over its task's or queue's rate waits there (lib/rate)
local n = tonumber(ARGV[1])
local job_prefix = ARGV[2]
local now = ARGV[3]
local record_ttl = ARGV[4]   -- ms, of a record made here
local result_ttl = ARGV[5]   -- ms, of the record of a job found expired
local done = ARGV[6]         -- the channel for the notices of expired jobs
local unique_prefix = ARGV[7]
local conc_prefix = ARGV[8]  -- slots, wait lists (lib/slots), rate limiters (lib/rate)
local events = ARGV[9]       -- `started` and `expired` events (lib/event)
local events_max = ARGV[10]

if redis.call('EXISTS', paused) == 1 then
  return REPLY_PAUSED
end
local started = {job_prefix = job_prefix, queued = queued, now = now, record_ttl = record_ttl,
  stats = stats, done = done, result_ttl = result_ttl, unique_prefix = unique_prefix,
  debounced = debounced, conc_prefix = conc_prefix, scheduled = scheduled,
  events = events, events_max = events_max, started = {ids = {}, data = {}}}
local out = {}
local function take(entry)  -- entry was just pushed at the left of processing
  local attempt = mark_started(started, entry)
  if attempt == 0 then
    redis.call('LPOP', processing)
  else
    out[#out + 1] = entry
    out[#out + 1] = attempt
  end
end
local best = redis.call('ZPOPMIN', prioritized, n)  -- {entry1, score1, entry2, score2, ...}
for i = 1, #best, 2 do
  redis.call('LPUSH', processing, best[i])
  take(best[i])
end
for _ = #best / 2 + 1, n do
  local entry = redis.call('LMOVE', pending, processing, 'RIGHT', 'LEFT')
  if not entry then break end
  if entry == MARK_WAKE then
    redis.call('LPOP', processing)
  else
    take(entry)
  end
end
emit_all(events, events_max, EVENT_STARTED, started.started.ids, started.started.data)
if started.reserved_at then  -- a job over its rate went to the schedule: when it is due
  out[#out + 1] = string.format('%.3f', started.reserved_at / 1000)
end
return out
