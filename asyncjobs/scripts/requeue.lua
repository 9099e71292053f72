-- Put every job of a processing list back at the consumer end of the queue, oldest last out of
-- the list so that it runs first; each record goes back to queued and the interrupted attempt
-- is not counted.
-- Returns the number of jobs put back.
--- @include lib/unstart
local processing = KEYS[1]   -- emptied
local pending = KEYS[2]
local job_prefix = ARGV[1]

local n = 0
while true do
  local entry = redis.call('LMOVE', processing, pending, 'LEFT', 'RIGHT')
  if not entry then break end
  if unstart(job_prefix, entry) then
    n = n + 1
  else
    redis.call('RPOP', pending)  -- just pushed: a cancelled job, or the WAKE marker
  end
end
return n
