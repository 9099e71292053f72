-- The head of a queued entry (protocol.QueuedEntry), before its task's name: mark, enqueue
-- time, then only as many of priority, expiry, unique key and limits as it needs.
local function queued_head(mark, enqueued_at, priority, expires_at, unique, limits)
  local head = mark .. enqueued_at
  if limits ~= '' then
    head = head .. ',' .. priority .. ',' .. expires_at .. ',' .. unique .. ',' .. limits
  elseif unique ~= '' or expires_at ~= '' then
    head = head .. ',' .. priority .. ',' .. expires_at .. ',' .. unique
  elseif priority > 0 then
    head = head .. ',' .. priority
  end
  return head .. ' '  -- the task follows
end
