-- Rate limits (the third part of protocol.When.limits: '<count>/<period ms>'). The starts of a
-- task keep to its rate by GCRA: prefix .. 'rate:' .. task holds the theoretical arrival time
-- (ms) of its next start, and a start is allowed while that time is at most the tolerance
-- ahead of now (a burst of RATE_BURST_SHARE of count, at least 1); so no window of any length
-- holds more starts than the burst plus the window's share of the rate, however late jobs
-- arrive. A job that may not start yet goes to the schedule, not back and forth: each such job
-- is due one interval after the previous one (prefix .. 'rate:' .. task .. ':next'), so the
-- waiting jobs come back one at a time, each when the rate allows it.

local function rate_of(limits)
  local rate = string.match(limits, '^[^,]*,[^,]*,([^,]*),')
  if not rate or rate == '' then return nil end
  local count, period = string.match(rate, '^(%d+)/(%d+)$')
  return tonumber(count), tonumber(period)
end

local function set_ms(key, at, now, period)
  redis.call('SET', key, string.format('%.3f', at), 'PX', math.ceil(at - now + period))
end

-- True when job id may start now at its task's rate (or it has none); else schedules entry for
-- its turn, notes the earliest such time in s.reserved_at, and returns false.
local function take_rate(s, limits, task, entry)
  local count, period = rate_of(limits)
  if not count then return true end
  local now = tonumber(s.now) * 1000
  local interval = period / count
  local tolerance = interval * (math.max(1, math.floor(count * RATE_BURST_SHARE)) - 1)
  local key = s.conc_prefix .. 'rate:' .. task
  local tat = math.max(tonumber(redis.call('GET', key)) or 0, now)
  if tat - tolerance <= now then
    set_ms(key, tat + interval, now, period)
    return true
  end
  local next_key = key .. ':next'
  local at = math.max(tonumber(redis.call('GET', next_key)) or 0, tat - tolerance)
  set_ms(next_key, at + interval, now, period)
  redis.call('ZADD', s.scheduled, string.format('%.3f', at / 1000), entry)
  if not s.reserved_at or at < s.reserved_at then  -- the caller wakes its promoter
    s.reserved_at = at
  end
  return false
end
