--- @include lib/read_str
-- The job id and task name at the head of an encoded envelope (protocol.Envelope: a msgpack
-- array whose first elements are the id and the task name). Returns nil for anything else
-- (poison input), so callers skip it; the task alone is nil when only the id could be read.
local function job_head(entry)
  local head = string.byte(entry, 1)
  local pos
  if head == nil then
    return nil
  elseif head >= 0x90 and head <= 0x9f then
    pos = 2
  elseif head == 0xdc then
    pos = 4
  elseif head == 0xdd then
    pos = 6
  else
    return nil
  end
  local id, after = read_str(entry, pos)
  if id == nil or #id == 0 or string.find(id, '[^%w_.:%-]') then
    return nil
  end
  return id, read_str(entry, after)
end

local function job_id(entry)
  return (job_head(entry))
end
