-- Put every job of a processing list back at the consumer end of the queue, oldest last out of
-- the list so that it runs first; each record goes back to queued and the interrupted attempt
-- is not counted.
-- Returns the number of jobs put back.
--- @include lib/unstart
local processing = KEYS[1]   -- emptied
local pending = KEYS[2]
local job_prefix = ARGV[1]
local conc_prefix = ARGV[2]  -- concurrency slots (lib/slots)

local n = 0
while true do
  local entry = redis.call('LPOP', processing)
  if not entry then break end
  if unstart(job_prefix, entry, conc_prefix, pending) then  -- not a cancelled job, nor WAKE
    redis.call('RPUSH', pending, entry)
    n = n + 1
  end
end
return n
