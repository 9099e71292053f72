--- @include lib/msgpack_write
-- protocol.Outcome of a job that ended in error, encoded: [nil, [kind, type, message, '']]
local function encode_error_outcome(kind, type, message)
  return '\146\192\148' .. mp_str(kind) .. mp_str(type) .. mp_str(message) .. mp_str('')
end
