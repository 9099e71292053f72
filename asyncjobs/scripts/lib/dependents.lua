--- @include lib/read_str
--- @include lib/queued_entry
--- @include lib/push_prioritized
--- @include lib/outcome
--- @include lib/event
-- Jobs that wait for others (after=): a waiting job has its envelope in the `waiting` hash of
-- its queue, its queued entry marked MARK_WAITING, and its spec in the `after` hash:
-- `<remaining>,<AFTER_CANCEL or AFTER_RUN>,<PIPED_...>`; each job it waits for lists it in its
-- own `dependents:<id>` set as `<key_base> <id> <n>` (it is the job's n-th dependency). A
-- group's callback (PIPED_GATHER) keeps its dependencies' values in `gathered:<id>` by n, with
-- their `count`, until the last one is in. A waiting job may be in another queue than
-- the job it waits for (on one server: such keys are in other cluster slots), so its keys are
-- built here from its queue's key_base, with the suffixes of protocol.Key.

-- The envelope with its first argument set to `value` (encoded msgpack): a pipeline step's
-- envelope carries nil there until the step before it completes.
local function with_first_arg(entry, value)
  local head = string.byte(entry, 1)
  local pos = (head == 0xdc) and 4 or 2
  local _, after_id = read_str(entry, pos)
  local _, after_task = read_str(entry, after_id)
  local args = string.byte(entry, after_task)
  local first = (args == 0xdc) and (after_task + 3) or (after_task + 1)
  if string.byte(entry, first) ~= 0xc0 then return entry end  -- not a placeholder: left as is
  return string.sub(entry, 1, first - 1) .. value .. string.sub(entry, first + 1)
end

-- The msgpack array of a group callback's gathered values, in order (its first argument).
local function gathered_list(gathered)
  local count = tonumber(redis.call('HGET', gathered, 'count'))
  local order = {}
  for n = 1, count do order[n] = n end
  local values = redis.call('HMGET', gathered, unpack(order))
  for n = 1, count do values[n] = values[n] or '\192' end
  local head
  if count <= 15 then
    head = string.char(0x90 + count)
  elseif count <= 0xffff then
    head = '\220' .. struct.pack('>I2', count)
  else
    head = '\221' .. struct.pack('>I4', count)
  end
  redis.call('DEL', gathered)
  return head .. table.concat(values)
end

-- A waiting job's dependencies are all met: it joins its queue like a new job.
local function release_waiting(base, id, entry)
  redis.call('HDEL', base .. KEY_WAITING, id)
  redis.call('HDEL', base .. KEY_AFTER, id)
  local queued = base .. KEY_QUEUED
  local meta = redis.call('HGET', queued, id)
  if not meta then return end
  redis.call('HSET', queued, id, MARK_QUEUED .. string.sub(meta, 2))
  local _, priority = queued_entry(meta)
  if priority > 0 then
    push_prioritized(base .. KEY_PRIORITIZED, base .. KEY_SEQ, base .. KEY_PENDING, priority,
      {entry})
  else
    redis.call('LPUSH', base .. KEY_PENDING, entry)
  end
end

-- A waiting job whose dependency failed: cancelled with `outcome`, like cancel.lua does.
local function cancel_waiting(base, id, outcome, d)
  redis.call('HDEL', base .. KEY_WAITING, id)
  redis.call('HDEL', base .. KEY_AFTER, id)
  redis.call('DEL', base .. KEY_GATHERED .. id)
  local queued = base .. KEY_QUEUED
  local meta = redis.call('HGET', queued, id)
  if not meta then return end
  redis.call('HDEL', queued, id)
  local enqueued_at, priority, _, task = queued_entry(meta)
  local record = base .. KEY_JOB .. id
  redis.call('HSET', record, FIELD_STATE, STATE_CANCELLED, FIELD_OUTCOME, outcome,
    FIELD_FINISHED_AT, d.now, FIELD_TASK, task, FIELD_ENQUEUED_AT, enqueued_at, FIELD_ATTEMPTS, 0)
  if priority > 0 then
    redis.call('HSET', record, FIELD_PRIORITY, priority)
  end
  redis.call('PEXPIRE', record, d.record_ttl)
  redis.call('HINCRBY', base .. KEY_STATS, STAT_CANCELLED, 1)
  redis.call(PUBLISH, base .. KEY_DONE, id)
  if d.events ~= '' then
    emit(base .. KEY_EVENTS, d.events_max, EVENT_CANCELLED, id, 'dependency_failed')
  end
end

-- Job `id` of the queue at `base` has ended: completed (`ok`) or not, with `outcome` (its
-- encoded protocol.Outcome). Each job waiting for it counts one dependency met, and joins
-- its queue when none is left (a piped one takes the value as its first argument); or, when
-- it did not complete, is cancelled (AFTER_CANCEL; a piped one with the same outcome, so its
-- waiters see the step's error), and so on down its own dependents; or counts it as met
-- (AFTER_RUN). d: now, record_ttl (ms, of cancelled records), events ('' when off), events_max.
local function release_dependents(base, id, ok, outcome, d)
  local work = {{base, id, ok, outcome}}
  while #work > 0 do
    local ended = table.remove(work)
    local dependents = ended[1] .. KEY_DEPENDENTS .. ended[2]
    local members = redis.call('SMEMBERS', dependents)
    if #members > 0 then
      redis.call('DEL', dependents)
      for _, member in ipairs(members) do
        local wbase, wid, n = string.match(member, '^(%S+) (%S+) (%d+)$')
        local spec = redis.call('HGET', wbase .. KEY_AFTER, wid)
        if spec then
          local remaining, policy, piped = string.match(spec, '^(%d+),(%a+),(%d)$')
          if not ended[3] and policy == AFTER_CANCEL then
            local why = (piped == PIPED_VALUE) and ended[4] or encode_error_outcome(ERROR_CANCELLED,
              'DependencyFailed', 'its dependency ' .. ended[2] .. ' did not complete')
            cancel_waiting(wbase, wid, why, d)
            work[#work + 1] = {wbase, wid, false, why}
          else
            local entry = redis.call('HGET', wbase .. KEY_WAITING, wid)
            local gathered = wbase .. KEY_GATHERED .. wid
            if piped == PIPED_VALUE and ended[3] then
              entry = with_first_arg(entry, string.sub(ended[4], 2, -2))
            elseif piped == PIPED_GATHER and ended[3] then
              redis.call('HSET', gathered, n, string.sub(ended[4], 2, -2))
            end
            if tonumber(remaining) <= 1 then
              if piped == PIPED_GATHER then
                entry = with_first_arg(entry, gathered_list(gathered))
              end
              release_waiting(wbase, wid, entry)
            else
              redis.call('HSET', wbase .. KEY_WAITING, wid, entry)
              redis.call('HSET', wbase .. KEY_AFTER, wid,
                (tonumber(remaining) - 1) .. ',' .. policy .. ',' .. piped)
            end
          end
        end
      end
    end
  end
end
