-- Appends one event (protocol.EventKind) to the queue's stream `events`, when events are on
-- (`events` is '' when off), keeping about `events_max` entries (MAXLEN ~ trims whole nodes:
-- cheap). The stream carries the queue's hash tag: it is in the caller's slot.
local function emit(events, events_max, kind, id, data)
  if events ~= '' then
    redis.call('XADD', events, 'MAXLEN', '~', events_max, '*', 'k', kind, 'j', id, 'd', data)
  end
end
