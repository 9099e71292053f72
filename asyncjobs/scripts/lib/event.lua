-- Appends events (protocol.EventKind) to the queue's stream `events`, when events are on
-- (`events` is '' when off), keeping about `events_max` entries (MAXLEN ~ trims whole nodes:
-- cheap). The stream carries the queue's hash tag: it is in the caller's slot.
-- An entry is one event (fields k, j, d), or several of one kind written in one step (fields
-- k, n: their count, j and d: one line each; a job id holds no newline, nor does such data).
local function emit(events, events_max, kind, id, data)
  if events ~= '' then
    redis.call('XADD', events, 'MAXLEN', '~', events_max, '*', 'k', kind, 'j', id, 'd', data)
  end
end

local function emit_all(events, events_max, kind, ids, data)
  if events == '' or #ids == 0 then
    return
  elseif #ids == 1 then
    emit(events, events_max, kind, ids[1], data[1])
  else
    redis.call('XADD', events, 'MAXLEN', '~', events_max, '*', 'k', kind, 'n', #ids,
      'j', table.concat(ids, '\n'), 'd', table.concat(data, '\n'))
  end
end
