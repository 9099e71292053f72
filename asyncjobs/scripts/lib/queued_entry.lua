-- The parts of a queued entry (protocol.QueuedEntry: a mark, the enqueue time, optionally the
-- priority and the expiry time, a space, the task name): enqueued_at, priority (a number),
-- expires_at (or nil), task.
local function queued_entry(meta)
  local space = string.find(meta, ' ', 2, true) or (#meta + 1)
  local enqueued_at, priority, expires_at = string.match(
    string.sub(meta, 2, space - 1), '^([^,]*),?([^,]*),?([^,]*)$')
  return enqueued_at, tonumber(priority) or 0, tonumber(expires_at), string.sub(meta, space + 1)
end
