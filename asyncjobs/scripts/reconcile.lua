-- After a connection error or a self-fence: put back every job in our processing list that we
-- are not running (a BLMOVE whose reply was lost, a job cancelled by the fence), so none is
-- stranded there while we live.
-- Returns the number of jobs put back.
--- @include lib/unstart
local processing = KEYS[1]   -- ours
local pending = KEYS[2]      -- jobs go back in at the right, to run next
local job_prefix = ARGV[1]
-- ARGV[2..]: the entries we are running (kept, counted with repeats)
local FIRST_RUNNING = 2

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
    redis.call('LREM', processing, -1, entry)
    redis.call('RPUSH', pending, entry)
    unstart(job_prefix, entry)
    back = back + 1
  end
end
return back
