-- Put every job of a processing list back at the consumer end of the queue, oldest last out
-- of the list so it runs first; each record goes back to "queued" and the interrupted attempt
-- is not counted.
-- KEYS[1] processing list (emptied), KEYS[2] pending list
-- ARGV[1] job record key prefix
-- Returns the number of jobs requeued.
local n = 0
while true do
  local entry = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not entry then break end
  n = n + 1
  unstart(ARGV[1], entry)
end
return n
