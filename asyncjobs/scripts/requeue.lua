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
  local id = job_id(entry)
  if id and redis.call('EXISTS', ARGV[1] .. id) == 1 then
    redis.call('HSET', ARGV[1] .. id, 's', 'queued')
    redis.call('HINCRBY', ARGV[1] .. id, 'a', -1)
  end
end
return n
