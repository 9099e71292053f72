-- Shared helpers, prepended to every script of this folder.

-- The job id at the head of an encoded envelope: a msgpack array whose first element is the
-- id as a fixstr or str8. Returns nil for anything else (poison input), so callers skip it.
local function job_id(entry)
  local head = string.byte(entry, 1)
  if head == nil or not ((head >= 0x90 and head <= 0x9f) or head == 0xdc) then
    return nil
  end
  local pos = (head == 0xdc) and 4 or 2
  local tag = string.byte(entry, pos)
  local len, start
  if tag == nil then
    return nil
  elseif tag >= 0xa1 and tag <= 0xbf then
    len, start = tag - 0xa0, pos + 1
  elseif tag == 0xd9 then
    len, start = string.byte(entry, pos + 1), pos + 2
    if len == nil or len == 0 then return nil end
  else
    return nil
  end
  local id = string.sub(entry, start, start + len - 1)
  if #id ~= len or string.find(id, '[^%w_.:%-]') then
    return nil
  end
  return id
end

-- Marks a job as running in its record (if the record still exists) and returns its attempt
-- number. job_prefix carries the queue's hash tag, so the key is in this script's slot.
local function mark_started(job_prefix, entry, now)
  local id = job_id(entry)
  if id == nil then return 1 end
  local key = job_prefix .. id
  if redis.call('EXISTS', key) == 0 then return 1 end
  redis.call('HSET', key, 's', 'running', 'st', now)
  return redis.call('HINCRBY', key, 'a', 1)
end
