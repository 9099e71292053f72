-- The parts of a queued entry (protocol.QueuedEntry: a mark, the enqueue time, optionally the
-- priority, the expiry time, the unique key and the limits, a space, the task name):
-- enqueued_at, priority (a number), expires_at (or nil), task, unique (or ''), limits (or '').
local function queued_entry(meta)
  local space = string.find(meta, ' ', 2, true) or (#meta + 1)
  local enqueued_at, priority, expires_at, unique, limits = string.match(
    string.sub(meta, 2, space - 1), '^([^,]*),?([^,]*),?([^,]*),?([^,]*),?(.*)$')
  return enqueued_at, tonumber(priority) or 0, tonumber(expires_at), string.sub(meta, space + 1),
    unique, limits
end
