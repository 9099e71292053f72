-- Rate limits (the third part of protocol.When.limits: the task's rate, then ';' and the
-- queue's when it has one, each '<count>/<period ms>'). Each limiter keeps its starts to its
-- rate by GCRA: its key holds the theoretical arrival time (ms) of its next start
-- (prefix .. 'rate:' .. task for a task, prefix .. 'qrate' for the queue; prefix is
-- protocol.QueueKeys.conc_prefix, with the hash tag), and a start is allowed while that time is
-- at most the tolerance ahead of now: the span of a burst of RATE_BURST_SHARE of count (at
-- least 1), and never less than RATE_LATENCY_MS (at most half an interval); so no window of
-- any length holds more starts than the burst plus the window's share of the rate (the window
-- stretched by that least tolerance), however late jobs arrive. A job starts only when every
-- limiter of its allows it, and only then takes a turn of each (rate_commit, once its
-- concurrency slots are held too). A job that may not start yet goes to the schedule, not back
-- and forth: it is due at the next free turn of the limiter that holds it back the longest
-- (that limiter's key .. ':next' chains the turns of its waiting jobs, one interval apart), so
-- the waiting jobs come back one at a time, each when its rate allows it. The schedule brings
-- each back a little late, by more or less than the one before: the least tolerance absorbs
-- that jitter, so that a job back a little less late than the one before does not miss its
-- turn and wait for a new one at the end of the chain (without it, a 20/s limit ran at about
-- 12/s). Jitter over the least tolerance still costs a turn now and then.

local function limiter(key, rate, now)
  if rate == '' then return nil end
  local count, period = string.match(rate, '^(%d+)/(%d+)$')
  if not count then return nil end
  count, period = tonumber(count), tonumber(period)
  local interval = period / count
  local burst = math.max(1, math.floor(count * RATE_BURST_SHARE))
  return {
    key = key, period = period, interval = interval,
    tolerance = math.max(interval * (burst - 1), math.min(interval / 2, RATE_LATENCY_MS)),
    tat = math.max(tonumber(redis.call('GET', key)) or 0, now),
  }
end

local function set_ms(key, at, now, period)
  redis.call('SET', key, string.format('%.3f', at), 'PX', math.ceil(at - now + period))
end

-- The limiters of a job of task (none: an empty table), each read at s.now, and whether they
-- all allow it to start now. When one does not, entry is put in the schedule for its turn,
-- the earliest such time is noted in s.reserved_at, and the second value is false.
local function rate_check(s, limits, task, entry)
  local rates = string.match(limits, '^[^,]*,[^,]*,([^,]*),') or ''
  if rates == '' then return {}, true end
  local task_rate, queue_rate = string.match(rates, '^([^;]*);?(.*)$')
  local now = tonumber(s.now) * 1000
  local limiters = {}
  limiters[#limiters + 1] = limiter(s.conc_prefix .. 'rate:' .. task, task_rate, now)
  limiters[#limiters + 1] = limiter(s.conc_prefix .. 'qrate', queue_rate, now)
  local held, held_at
  for _, l in ipairs(limiters) do
    if l.tat - l.tolerance > now then
      local at = math.max(tonumber(redis.call('GET', l.key .. ':next')) or 0, l.tat - l.tolerance)
      if not held or at > held_at then
        held, held_at = l, at
      end
    end
  end
  if not held then return limiters, true end
  set_ms(held.key .. ':next', held_at + held.interval, now, held.period)
  redis.call('ZADD', s.scheduled, string.format('%.3f', held_at / 1000), entry)
  if not s.reserved_at or held_at < s.reserved_at then  -- the caller wakes its promoter
    s.reserved_at = held_at
  end
  return limiters, false
end

-- Takes the turn of each limiter that rate_check allowed the job.
local function rate_commit(s, limiters)
  local now = tonumber(s.now) * 1000
  for _, l in ipairs(limiters) do
    set_ms(l.key, l.tat + l.interval, now, l.period)
  end
end
