-- Counts one duplicate execution of a job: once per execution token, however often that
-- execution's late acknowledgement arrives (a re-sent one, a copy delayed in the network).
local function count_duplicate(record, stats, token)
  if redis.call('EXISTS', record) == 1
      and redis.call('HSETNX', record, FIELD_DUPLICATE .. token, 1) == 0 then
    return
  end
  redis.call('HINCRBY', stats, STAT_DUPLICATE_COMPLETIONS, 1)
end
