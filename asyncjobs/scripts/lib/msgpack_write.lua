-- msgpack encoders of strings and bytes, for the records the scripts build themselves.
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
