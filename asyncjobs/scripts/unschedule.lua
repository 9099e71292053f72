-- Removes a schedule and its state together, so that a schedule added later under the same
-- name starts afresh. A worker that read the schedule before this finds it gone when it
-- fires (fire.lua checks the spec), so no slot of a removed schedule runs after this.
-- Returns 1 when the schedule existed, else 0.
local schedules = KEYS[1]
local state = KEYS[2]
local name = ARGV[1]

local removed = redis.call('HDEL', schedules, name)
redis.call('HDEL', state, name)
return removed
