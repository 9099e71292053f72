-- A msgpack string (fixstr, str8, str16 or str32) at pos of s: returns it and the position
-- after it, or nil when there is none (poison input).
local function read_str(s, pos)
  local tag = string.byte(s, pos)
  local len, start
  if tag == nil then
    return nil
  elseif tag >= 0xa0 and tag <= 0xbf then
    len, start = tag - 0xa0, pos + 1
  elseif tag == 0xd9 and #s >= pos + 1 then
    len, start = string.byte(s, pos + 1), pos + 2
  elseif tag == 0xda and #s >= pos + 2 then
    len, start = struct.unpack('>I2', s, pos + 1), pos + 3
  elseif tag == 0xdb and #s >= pos + 4 then
    len, start = struct.unpack('>I4', s, pos + 1), pos + 5
  else
    return nil
  end
  local str = string.sub(s, start, start + len - 1)
  if #str ~= len then return nil end
  return str, start + len
end
