-- Write what a running job reported since the last call: its progress (record fields) and
-- its new log lines (its logs list, the newest log_kept, expiring with the record). Only while
-- the record says it runs: a job that has ended (or whose record expired) keeps what it had,
-- and no key is made without a TTL. The logs key is in the record's slot: both carry the
-- queue's hash tag.
-- New progress is also a `progress` event (lib/event).
-- Returns REPLY_DONE when written, REPLY_NOT_OURS when the job no longer runs.
--- @include lib/event
local record = KEYS[1]       -- the job's record: progress fields, and the LOGGED flag
local logs = KEYS[2]         -- the job's log lines
local progress = ARGV[1]     -- 0.0..1.0, or '' for no new progress
local message = ARGV[2]      -- the progress message, or '' for none
local log_kept = tonumber(ARGV[3])
local events = ARGV[4]
local events_max = ARGV[5]
local id = ARGV[6]           -- the job's
-- ARGV[7..]: new log lines (protocol.encode_log_line), oldest first

if redis.call('HGET', record, FIELD_STATE) ~= STATE_RUNNING then
  return REPLY_NOT_OURS
end
if progress ~= '' then
  redis.call('HSET', record, FIELD_PROGRESS, progress)
  if message ~= '' then
    redis.call('HSET', record, FIELD_PROGRESS_MESSAGE, message)
  else
    redis.call('HDEL', record, FIELD_PROGRESS_MESSAGE)
  end
  emit(events, events_max, EVENT_PROGRESS, id, progress .. ' ' .. message)
end
if #ARGV > 6 then
  redis.call('RPUSH', logs, unpack(ARGV, 7))
  redis.call('LTRIM', logs, -log_kept, -1)
  local ttl = redis.call('PTTL', record)
  if ttl > 0 then  -- as long as the record (which has no TTL only if made so by hand)
    redis.call('PEXPIRE', logs, ttl)
  end
  redis.call('HSET', record, FIELD_LOGGED, 1)
end
return REPLY_DONE
