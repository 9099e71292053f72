-- Recover the jobs of a dead worker: only when its heartbeat is gone, move its whole
-- processing list back to the consumer end of the queue, count one recovery per job, and
-- dead-letter a job that has now been recovered max_recoveries times (it keeps killing its
-- workers) as worker_lost. A job recovered for the second time or more is a suspect: instead
-- of running next beside the same neighbours (which would die with it again), it goes to the
-- schedule, each suspect `stagger` seconds after the previous one, so it runs apart. A job
-- cancelled while it ran is dropped.
-- Returns {REPLY_DONE, requeued, dead_lettered}, or {REPLY_ALIVE, 0, 0} when the victim is alive.
--- @include lib/job_head
--- @include lib/dead_letter
--- @include lib/slots
local heartbeat = KEYS[1]    -- the victim's: must be absent, else nothing happens
local processing = KEYS[2]   -- the victim's: emptied
local pending = KEYS[3]      -- recovered jobs go in at the right, to run next
local workers = KEYS[4]      -- the victim leaves the registry
local dead = KEYS[5]         -- capped dead-letter list, with a TTL
local stats = KEYS[6]
local schedule = KEYS[7]     -- suspects, staggered
local minute = KEYS[8]       -- this minute's counters (throughput history): count dead letters
local victim = ARGV[1]
local job_prefix = ARGV[2]
local max_recoveries = tonumber(ARGV[3])
local now = ARGV[4]
local queue = ARGV[5]        -- the queue's name, for the dead letters
local reaper = ARGV[6]       -- our worker id, for the dead letters
local cap = ARGV[7]
local record_ttl = ARGV[8]   -- ms
local done = ARGV[9]
local dead_ttl = ARGV[10]    -- ms
local stagger = tonumber(ARGV[11])
local unique_prefix = ARGV[12]
local conc_prefix = ARGV[13]  -- the victim's jobs free their concurrency slots (lib/slots)
local minute_ttl = ARGV[14]  -- seconds
local events = ARGV[15]      -- a `dead` event per job dead-lettered (lib/event)
local events_max = ARGV[16]

if redis.call('EXISTS', heartbeat) == 1 then
  return {REPLY_ALIVE, 0, 0}
end
local requeued, buried, suspects = 0, 0, 0
while true do
  local entry = redis.call('LPOP', processing)  -- the newest first: the oldest ends up next in line
  if not entry then break end
  local id = job_id(entry)
  local record = id and (job_prefix .. id)
  local state = record and redis.call('HGET', record, FIELD_STATE)
  if entry == MARK_WAKE or state == STATE_CANCELLED then
    -- dropped: a cancelled job is never recovered
  elseif state then
    local recoveries = redis.call('HINCRBY', record, FIELD_RECOVERIES, 1)
    if recoveries >= max_recoveries then
      local message = 'the job was running on a worker that died, ' .. recoveries .. ' times'
      dead_letter({list = dead, cap = cap, list_ttl = dead_ttl, stats = stats,
        minute = minute, minute_ttl = minute_ttl,
        letter = encode_dead_letter('worker_lost', message, entry, queue, reaper, now, id),
        record = record, outcome = encode_dead_outcome('worker_lost', message), at = now,
        record_ttl = record_ttl, done = done, id = id, unique_prefix = unique_prefix,
        reason = 'worker_lost', events = events, events_max = events_max})
      buried = buried + 1
    elseif recoveries >= 2 then
      suspects = suspects + 1
      redis.call('ZADD', schedule, tonumber(now) + suspects * stagger, entry)
      redis.call('HSET', record, FIELD_STATE, STATE_SCHEDULED)
      requeued = requeued + 1
    else
      redis.call('RPUSH', pending, entry)
      redis.call('HSET', record, FIELD_STATE, STATE_QUEUED)
      requeued = requeued + 1
    end
  else
    redis.call('RPUSH', pending, entry)
    requeued = requeued + 1
  end
  if state then  -- after the entry went back: a job waiting for its slot runs after it
    release_slots(conc_prefix, record, id, pending)
  end
end
redis.call('ZREM', workers, victim)
if requeued > 0 then
  redis.call('HINCRBY', stats, STAT_RECOVERED, requeued)
end
return {REPLY_DONE, requeued, buried}
