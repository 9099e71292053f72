-- Rate limits (the third and fourth parts of protocol.When.limits: the task's and the queue's,
-- each '<count>/<period ms>'). Each limiter keeps its starts to its rate by GCRA: its key holds
-- the theoretical arrival time (ms) of its next start (prefix .. 'rate:' .. task for a task,
-- prefix .. 'qrate' for the queue), and a start is allowed while that time is at most the
-- tolerance ahead of now (a burst of RATE_BURST_SHARE of count, at least 1); so no window of any
-- length holds more starts than the burst plus the window's share of the rate, however late
-- jobs arrive. A job starts only when every limiter of its allows it, and then takes a turn of
-- each. A job that may not start yet goes to the schedule, not back and forth: each such job is
-- due one interval of the limiter that holds it back the longest after the previous one (that
-- limiter's key .. ':next'), so the waiting jobs come back one at a time, each when its rate
-- allows it (and wait again if the other limiter is then the one that holds them back).

local function limiter(key, rate, now)
  if not rate or rate == '' then return nil end
  local count, period = string.match(rate, '^(%d+)/(%d+)$')
  count, period = tonumber(count), tonumber(period)
  local interval = period / count
  return {
    key = key, period = period, interval = interval,
    tolerance = interval * (math.max(1, math.floor(count * RATE_BURST_SHARE)) - 1),
    tat = math.max(tonumber(redis.call('GET', key)) or 0, now),
  }
end

local function set_ms(key, at, now, period)
  redis.call('SET', key, string.format('%.3f', at), 'PX', math.ceil(at - now + period))
end

-- True when job id may start now at its task's and its queue's rates (or it has none); else
-- schedules entry for its turn, notes the earliest such time in s.reserved_at, and returns
-- false.
local function take_rate(s, limits, task, entry)
  local task_rate, queue_rate = string.match(limits, '^[^,]*,[^,]*,([^,]*),([^,]*),')
  if (not task_rate or task_rate == '') and (not queue_rate or queue_rate == '') then
    return true
  end
  local now = tonumber(s.now) * 1000
  local limiters = {limiter(s.conc_prefix .. 'rate:' .. task, task_rate, now),
                    limiter(s.conc_prefix .. 'qrate', queue_rate, now)}
  local held
  for i = 1, 2 do
    local l = limiters[i]
    if l and l.tat - l.tolerance > now and (not held or l.tat - l.tolerance > held.tat - held.tolerance) then
      held = l
    end
  end
  if not held then
    for i = 1, 2 do
      local l = limiters[i]
      if l then set_ms(l.key, l.tat + l.interval, now, l.period) end
    end
    return true
  end
  local next_key = held.key .. ':next'
  local at = math.max(tonumber(redis.call('GET', next_key)) or 0, held.tat - held.tolerance)
  set_ms(next_key, at + held.interval, now, held.period)
  redis.call('ZADD', s.scheduled, string.format('%.3f', at / 1000), entry)
  if not s.reserved_at or at < s.reserved_at then  -- the caller wakes its promoter
    s.reserved_at = at
  end
  return false
end
