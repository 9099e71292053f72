-- Concurrency limits (protocol.When.limits: '<max>,<per key>,<rates>,<key>', empty parts for
-- none; the rates are lib/rate's).
-- A job runs only while it holds a slot in each of its groups: its task's ('t:' .. task, at
-- most <max> at once) and its key's ('k:' .. task .. ':' .. key, at most <per key>). The slots
-- of a group are the members (job ids) of the set prefix .. 'run:' .. group; a job that finds
-- a group full waits in the list prefix .. 'wait:' .. group, in no worker, until a slot of
-- that group is freed. prefix (protocol.QueueKeys.conc_prefix) carries the hash tag.

local function slot_groups(limits, task)
  local max, per_key, key = string.match(limits, '^([^,]*),([^,]*),[^,]*,(.*)$')
  local groups = {}
  if max and max ~= '' then
    groups[#groups + 1] = {'t:' .. task, tonumber(max)}
  end
  if per_key and per_key ~= '' and key ~= '' then
    groups[#groups + 1] = {'k:' .. task .. ':' .. key, tonumber(per_key)}
  end
  return groups
end

-- Takes a slot in each group for job id (a slot it holds already counts): true; or, when a
-- group is full, puts entry at the back of that group's wait list, takes nothing: false.
local function acquire_slots(prefix, limits, task, id, entry)
  local groups = slot_groups(limits, task)
  for _, group in ipairs(groups) do
    local run = prefix .. 'run:' .. group[1]
    if redis.call('SISMEMBER', run, id) == 0 and redis.call('SCARD', run) >= group[2] then
      redis.call('RPUSH', prefix .. 'wait:' .. group[1], entry)
      return false
    end
  end
  for _, group in ipairs(groups) do
    redis.call('SADD', prefix .. 'run:' .. group[1], id)
  end
  return true
end

-- Frees the slots job id holds (its record gives its limits and task); for each slot freed,
-- the group's longest-waiting job goes back to the oldest end of pending, to run next.
local function release_slots(prefix, record, id, pending)
  local fields = redis.call('HMGET', record, FIELD_LIMITS, FIELD_TASK)
  if not fields[1] then return end
  for _, group in ipairs(slot_groups(fields[1], fields[2] or '')) do
    if redis.call('SREM', prefix .. 'run:' .. group[1], id) == 1 then
      local waiting = redis.call('LPOP', prefix .. 'wait:' .. group[1])
      if waiting then
        redis.call('RPUSH', pending, waiting)
      end
    end
  end
end
