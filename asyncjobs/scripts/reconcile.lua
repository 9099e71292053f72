-- After a connection error or a self-fence: put back every job in our processing list that we
-- are not running (a BLMOVE whose reply was lost, a job cancelled by the fence), so none is
-- stranded there while we live.
-- KEYS[1] our processing list, KEYS[2] pending list (jobs go back in at the right, to run next)
-- ARGV[1] job record key prefix, ARGV[2..] entries we are running (kept, counted with repeats)
-- Returns the number of jobs put back.
local keep = {}
for i = 2, #ARGV do
  keep[ARGV[i]] = (keep[ARGV[i]] or 0) + 1
end
local back = 0
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
for i = #entries, 1, -1 do  -- oldest first, so the oldest runs first again
  local entry = entries[i]
  if (keep[entry] or 0) > 0 then
    keep[entry] = keep[entry] - 1
  else
    redis.call('LREM', KEYS[1], -1, entry)
    redis.call('RPUSH', KEYS[2], entry)
    unstart(ARGV[1], entry)
    back = back + 1
  end
end
return back
