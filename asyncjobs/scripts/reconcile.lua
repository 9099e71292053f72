-- After a connection error or a self-fence: put back every job in our processing list that we
-- are not running (a BLMOVE whose reply was lost, a job cancelled by the fence), so none is
-- stranded there while we live. A job whose record says it started at or after `since` is kept
-- too: it was fetched after the list of running entries was read, so this call is a late copy
-- (re-sent after a lost reply, or delayed in the network) and that job is running.
-- A cancelled job is dropped instead (lib/unstart).
-- Returns the number of jobs put back.
--- @include lib/unstart
local processing = KEYS[1]   -- ours
local pending = KEYS[2]      -- jobs go back in at the right, to run next
local job_prefix = ARGV[1]
local conc_prefix = ARGV[2]  -- concurrency slots (lib/slots)
local since = tonumber(ARGV[3])  -- when the running entries were read (Unix seconds, the
                                 -- worker's clock, as fetch.lua and start.lua stamp the start)
-- ARGV[4..]: the entries we are running (kept, counted with repeats)
local FIRST_RUNNING = 4

local keep = {}
for i = FIRST_RUNNING, #ARGV do
  keep[ARGV[i]] = (keep[ARGV[i]] or 0) + 1
end
local back = 0
local entries = redis.call('LRANGE', processing, 0, -1)
for i = #entries, 1, -1 do  -- oldest first, so the oldest runs first again
  local entry = entries[i]
  if (keep[entry] or 0) > 0 then
    keep[entry] = keep[entry] - 1
  else
    local id = job_id(entry)
    local started = id and tonumber(redis.call('HGET', job_prefix .. id, FIELD_STARTED_AT))
    if not (started and started >= since) then
      redis.call('LREM', processing, -1, entry)
      if unstart(job_prefix, entry, conc_prefix, pending) then
        redis.call('RPUSH', pending, entry)
        back = back + 1
      end
    end
  end
end
return back
