-- After a connection error or a self-fence: put back every job in our processing list that we
-- are not running (a BLMOVE whose reply was lost, a job cancelled by the fence), so none is
-- stranded there while we live. A job whose record says it started at or after ARGV[2] is kept
-- too: it was fetched after the list of running entries was read, so this call is a late copy
-- (re-sent after a lost reply, or delayed in the network) and that job is running.
-- KEYS[1] our processing list, KEYS[2] pending list (jobs go back in at the right, to run next)
-- ARGV[1] job record key prefix, ARGV[2] when the running entries were read (Unix seconds, the
-- worker's clock, as fetch.lua and start.lua stamp 'st'), ARGV[3..] entries we are running
-- (kept, counted with repeats)
-- Returns the number of jobs put back.
local keep = {}
for i = 3, #ARGV do
  keep[ARGV[i]] = (keep[ARGV[i]] or 0) + 1
end
local since = tonumber(ARGV[2])
local back = 0
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
for i = #entries, 1, -1 do  -- oldest first, so the oldest runs first again
  local entry = entries[i]
  if (keep[entry] or 0) > 0 then
    keep[entry] = keep[entry] - 1
  else
    local id = job_id(entry)
    local started = id and tonumber(redis.call('HGET', ARGV[1] .. id, 'st'))
    if not (started and started >= since) then
      redis.call('LREM', KEYS[1], -1, entry)
      redis.call('RPUSH', KEYS[2], entry)
      unstart(ARGV[1], entry)
      back = back + 1
    end
  end
end
return back
