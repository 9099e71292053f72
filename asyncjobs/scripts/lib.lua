-- Shared helpers: each script of this folder is prefixed with those it calls (one blank line
-- apart, one function a block).

-- A msgpack string (fixstr or str8) at pos: returns it and the position after it, or nil.
local function mp_read_str(entry, pos)
  local tag = string.byte(entry, pos)
  local len, start
  if tag == nil then
    return nil
  elseif tag >= 0xa0 and tag <= 0xbf then
    len, start = tag - 0xa0, pos + 1
  elseif tag == 0xd9 then
    len, start = string.byte(entry, pos + 1), pos + 2
    if len == nil then return nil end
  else
    return nil
  end
  local s = string.sub(entry, start, start + len - 1)
  if #s ~= len then return nil end
  return s, start + len
end

-- The job id and task name at the head of an encoded envelope: a msgpack array whose first
-- elements are the id and the task name, as fixstr or str8. Returns nil for anything else
-- (poison input), so callers skip it.
local function job_head(entry)
  local head = string.byte(entry, 1)
  if head == nil or not ((head >= 0x90 and head <= 0x9f) or head == 0xdc) then
    return nil
  end
  local id, after = mp_read_str(entry, (head == 0xdc) and 4 or 2)
  if id == nil or #id == 0 or string.find(id, '[^%w_.:%-]') then
    return nil
  end
  return id, mp_read_str(entry, after)
end

local function job_id(entry)
  return (job_head(entry))
end

-- Marks a job as running in its record and returns its attempt number. A job that has not
-- started before has no record yet, only its entry in the queued hash: the record is made from
-- that entry (which leaves the hash) and kept ttl ms. job_prefix carries the queue's hash tag,
-- so the record is in this script's slot.
local function mark_started(job_prefix, queued, entry, now, ttl)
  local id = job_id(entry)
  if id == nil then return 1 end
  local key = job_prefix .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 's', 'running', 'st', now)
    return redis.call('HINCRBY', key, 'a', 1)
  end
  local meta = redis.call('HGET', queued, id)
  if not meta then return 1 end
  redis.call('HDEL', queued, id)
  -- meta: state letter, enqueued_at, a space, task name (see enqueue.lua)
  local space = string.find(meta, ' ', 2, true) or (#meta + 1)
  redis.call('HSET', key, 's', 'running', 'st', now, 'a', 1,
    'e', string.sub(meta, 2, space - 1), 't', string.sub(meta, space + 1))
  redis.call('PEXPIRE', key, ttl)
  return 1
end

-- Puts a job's record back to "queued" and uncounts the attempt that did not run to its end
-- (shutdown and reconcile requeue jobs that were taken but not run).
local function unstart(job_prefix, entry)
  local id = job_id(entry)
  if id and redis.call('EXISTS', job_prefix .. id) == 1 then
    redis.call('HSET', job_prefix .. id, 's', 'queued')
    redis.call('HINCRBY', job_prefix .. id, 'a', -1)
  end
end

-- msgpack encoders for the records scripts write themselves (decoded by asyncjobs.codec).
local function mp_str(s)
  local n = #s
  if n < 32 then return string.char(0xa0 + n) .. s end
  if n < 256 then return '\217' .. string.char(n) .. s end
  if n < 65536 then return '\218' .. struct.pack('>I2', n) .. s end
  return '\219' .. struct.pack('>I4', n) .. s
end

local function mp_bin(s)
  local n = #s
  if n < 256 then return '\196' .. string.char(n) .. s end
  if n < 65536 then return '\197' .. struct.pack('>I2', n) .. s end
  return '\198' .. struct.pack('>I4', n) .. s
end

-- codec.DeadLetter: [reason, message, payload, queue, worker_id, at, job_id]
local function dead_record(reason, message, payload, queue, worker, at, id)
  return '\151' .. mp_str(reason) .. mp_str(message) .. mp_bin(payload) .. mp_str(queue)
    .. mp_str(worker) .. '\203' .. struct.pack('>d', tonumber(at)) .. (id and mp_str(id) or '\192')
end

-- codec.Outcome of a dead-lettered job: [nil, [kind 'dead', type, message, traceback '']]
local function dead_outcome(reason, message)
  return '\146\192\148' .. mp_str('dead') .. mp_str(reason) .. mp_str(message) .. mp_str('')
end

-- Counts one duplicate execution of a job: once per execution token, however often that
-- execution's late acknowledgement arrives (a re-sent one, a copy delayed in the network).
local function count_duplicate(record, stats, token)
  if redis.call('EXISTS', record) == 1 and redis.call('HSETNX', record, 'x:' .. token, 1) == 0 then
    return
  end
  redis.call('HINCRBY', stats, 'duplicate_completions', 1)
end
