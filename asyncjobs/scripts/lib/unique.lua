--- @include lib/read_str
--- @include lib/msgpack_write
-- Unique keys (protocol.When.unique: a window mark, then the key). A job holds
-- unique_prefix .. key, whose value is its id, from its enqueue until its window ends:
-- UNIQUE_WHILE_QUEUED when it first starts, UNIQUE_WHILE_ACTIVE when it ends (any way: done,
-- failed, dead, cancelled, expired), UNIQUE_UNTIL_RESULT_EXPIRES ttl ms after it ends.

-- Frees the key `unique` held by job `id` if its window ends now: at its first start
-- (ended false) or at its end (ended true; ttl: ms its result is kept).
local function release_unique(unique_prefix, unique, id, ended, ttl)
  if not unique or unique == '' then return end
  local window = string.sub(unique, 1, 1)
  local held = unique_prefix .. string.sub(unique, 2)
  if redis.call('GET', held) ~= id then return end
  if ended and window == UNIQUE_UNTIL_RESULT_EXPIRES then
    redis.call('PEXPIRE', held, ttl)
  elseif ended or window == UNIQUE_WHILE_QUEUED then
    redis.call('DEL', held)
  end
end

-- The envelope `entry` with its job id replaced by `id` (protocol.Envelope: a msgpack array
-- whose first element is the id), for a debounced job whose later call replaces it.
local function with_id(entry, id)
  local head = string.byte(entry, 1)
  local pos = (head <= 0x9f) and 2 or ((head == 0xdc) and 4 or 6)
  local _, after = read_str(entry, pos)
  return string.sub(entry, 1, pos - 1) .. mp_str(id) .. string.sub(entry, after)
end
