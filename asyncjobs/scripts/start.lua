-- Mark the entry a BLMOVE just took into our processing list as running. The WAKE marker is
-- swapped for the best prioritized job (protocol.QueueKeys); a job cancelled or expired while
-- it waited is dropped (lib/mark_started); while the queue is paused, the entry goes back to
-- the oldest end of the queue.
-- Returns the entry's attempt number; 0 when there is nothing to run (the entry is no longer
-- ours, was dropped, or was WAKE with no prioritized job left); {attempt, entry} when another
-- entry runs in its place; {0, entry, due} when a job over its task's or queue's rate went to the
-- schedule, due then (lib/rate); {REPLY_PAUSED} when paused.
--- @include lib/mark_started
local processing = KEYS[1]   -- ours: the entry must still be there
local prioritized = KEYS[2]  -- the best job there replaces WAKE
local pending = KEYS[3]      -- an entry taken while paused goes back in at the right
local queued = KEYS[4]       -- the job's queued entry leaves it when its record is made
local paused = KEYS[5]       -- read only
local stats = KEYS[6]        -- counts expired jobs
local debounced = KEYS[7]    -- a debounced job leaves it when it starts
local scheduled = KEYS[8]    -- a job over its task's or queue's rate waits there (lib/rate)
local entry = ARGV[1]
local job_prefix = ARGV[2]
local now = ARGV[3]
local record_ttl = ARGV[4]   -- ms, of a record made here
local result_ttl = ARGV[5]   -- ms, of the record of a job found expired
local done = ARGV[6]         -- the channel for the notices of expired jobs
local unique_prefix = ARGV[7]
local conc_prefix = ARGV[8]  -- slots, wait lists (lib/slots), rate limiters (lib/rate)
local events = ARGV[9]       -- `started` and `expired` events (lib/event)
local events_max = ARGV[10]

if redis.call('LPOS', processing, entry) == false then
  return 0
end
if redis.call('EXISTS', paused) == 1 then
  redis.call('LREM', processing, 1, entry)
  if entry ~= MARK_WAKE then
    redis.call('RPUSH', pending, entry)
  end
  return {REPLY_PAUSED}
end
local started = {job_prefix = job_prefix, queued = queued, now = now, record_ttl = record_ttl,
  stats = stats, done = done, result_ttl = result_ttl, unique_prefix = unique_prefix,
  debounced = debounced, conc_prefix = conc_prefix, scheduled = scheduled,
  events = events, events_max = events_max}
if entry ~= MARK_WAKE then
  local attempt = mark_started(started, entry)
  if attempt == 0 then
    redis.call('LREM', processing, 1, entry)
    if started.reserved_at then  -- over its rate: in the schedule, due then
      return {0, entry, string.format('%.3f', started.reserved_at / 1000)}
    end
  end
  return attempt
end
redis.call('LREM', processing, 1, entry)
while true do
  local best = redis.call('ZPOPMIN', prioritized)
  if #best == 0 then return 0 end
  local attempt = mark_started(started, best[1])
  if attempt ~= 0 then
    redis.call('LPUSH', processing, best[1])
    return {attempt, best[1]}
  elseif started.reserved_at then
    return {0, best[1], string.format('%.3f', started.reserved_at / 1000)}
  end
end
