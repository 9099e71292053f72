-- Dead-letter a job that cannot run (undecodable, unknown task, bad arguments): its entry
-- leaves our processing list for the dead-letter list.
-- Returns REPLY_DONE when dead-lettered, REPLY_NOT_OURS when the entry was no longer ours.
--- @include lib/dead_letter
--- @include lib/slots
local processing = KEYS[1]   -- ours; the entry leaves it
local dead = KEYS[2]         -- the dead letter goes in at the left, capped, with a TTL
local stats = KEYS[3]
local pending = KEYS[4]      -- a job waiting for a concurrency slot it frees goes back in
local minute = KEYS[5]       -- this minute's counters (throughput history): counts it
local record = KEYS[6] or false  -- optional (a tail): only when the job id could be read
local entry = ARGV[1]
local letter = ARGV[2]       -- the encoded DeadLetter
local cap = ARGV[3]
local outcome = ARGV[4]      -- the encoded Outcome for the record
local finished_at = ARGV[5]
local record_ttl = ARGV[6]   -- ms
local id = ARGV[7]           -- '' when it could not be read
local done = ARGV[8]
local dead_ttl = ARGV[9]     -- ms, from the list's last entry
local unique_prefix = ARGV[10]
local conc_prefix = ARGV[11]
local minute_ttl = ARGV[12]  -- seconds
local reason = ARGV[13]      -- the dead letter's reason, for its event
local events = ARGV[14]      -- a `dead` event (lib/event)
local events_max = ARGV[15]

if redis.call('LREM', processing, -1, entry) == 0 then
  redis.call('HINCRBY', stats, STAT_DUPLICATE_COMPLETIONS, 1)
  return REPLY_NOT_OURS
end
if record then
  release_slots(conc_prefix, record, id, pending)
end
dead_letter({list = dead, cap = cap, list_ttl = dead_ttl, stats = stats, letter = letter,
  minute = minute, minute_ttl = minute_ttl, record = record, outcome = outcome, at = finished_at,
  record_ttl = record_ttl, done = done, id = id, unique_prefix = unique_prefix, reason = reason,
  events = events, events_max = events_max})
return REPLY_DONE
