-- Recover the jobs of a dead worker: only when its heartbeat is gone, move its whole processing
-- list back to the consumer end of the queue, count one recovery per job, and dead-letter a job
-- that has now been recovered max_recoveries times (it keeps killing its workers) as worker_lost.
-- A job recovered for the second time or more is a suspect: instead of running next beside the
-- same neighbours (which would die with it again), it goes to the schedule, each suspect
-- ARGV[11] seconds after the previous one, so it runs apart from the others.
-- KEYS[1] the victim's heartbeat      (must be absent, else nothing happens)
-- KEYS[2] the victim's processing list (emptied)
-- KEYS[3] pending list                 (recovered jobs go in at the right, to run next)
-- KEYS[4] workers registry zset        (the victim is removed)
-- KEYS[5] dead-letter list             (capped at ARGV[7], expires ARGV[10] ms after its last entry)
-- KEYS[6] stats hash
-- KEYS[7] schedule zset                (suspects, staggered)
-- ARGV[1] victim id, ARGV[2] job record key prefix (records carry the queue's hash tag),
-- ARGV[3] max_recoveries, ARGV[4] now, ARGV[5] queue name, ARGV[6] reaping worker id,
-- ARGV[7] dead-letter cap, ARGV[8] record TTL ms, ARGV[9] done channel, ARGV[10] dead-letter TTL ms,
-- ARGV[11] seconds between suspects
-- Returns {requeued, dead_lettered}, or {-1, 0} when the victim is alive.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {-1, 0}
end
local requeued, dead, suspects = 0, 0, 0
while true do
  local entry = redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT')
  if not entry then break end
  local id = job_id(entry)
  local record = id and (ARGV[2] .. id)
  if record and redis.call('EXISTS', record) == 1 then
    local recoveries = redis.call('HINCRBY', record, 'rc', 1)
    if recoveries >= tonumber(ARGV[3]) then
      redis.call('RPOP', KEYS[3])  -- the entry just pushed
      local message = 'the job was running on a worker that died, ' .. recoveries .. ' times'
      redis.call('LPUSH', KEYS[5],
        dead_record('worker_lost', message, entry, ARGV[5], ARGV[6], ARGV[4], id))
      redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[7]) - 1)
      redis.call('PEXPIRE', KEYS[5], ARGV[10])
      redis.call('HSET', record, 'r', dead_outcome('worker_lost', message), 's', 'dead', 'f', ARGV[4])
      redis.call('PEXPIRE', record, ARGV[8])
      redis.call('HINCRBY', KEYS[6], 'dead', 1)
      redis.call('PUBLISH', ARGV[9], id)
      dead = dead + 1
    elseif recoveries >= 2 then
      redis.call('RPOP', KEYS[3])
      suspects = suspects + 1
      redis.call('ZADD', KEYS[7], tonumber(ARGV[4]) + suspects * tonumber(ARGV[11]), entry)
      redis.call('HSET', record, 's', 'scheduled')
      requeued = requeued + 1
    else
      redis.call('HSET', record, 's', 'queued')
      requeued = requeued + 1
    end
  else
    requeued = requeued + 1
  end
end
redis.call('ZREM', KEYS[4], ARGV[1])
if requeued > 0 then
  redis.call('HINCRBY', KEYS[6], 'recovered', requeued)
end
return {requeued, dead}
