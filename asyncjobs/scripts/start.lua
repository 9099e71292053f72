-- Mark one job, already moved into our processing list by BLMOVE, as running.
-- Returns its attempt number, or REPLY_NOT_OURS when the entry is no longer in our list.
--- @include lib/mark_started
local processing = KEYS[1]   -- read only: the entry must still be ours
local queued = KEYS[2]       -- the job's queued entry leaves it when its record is made
local entry = ARGV[1]
local job_prefix = ARGV[2]
local now = ARGV[3]
local record_ttl = ARGV[4]   -- ms, of a record made here

if redis.call('LPOS', processing, entry) == false then
  return REPLY_NOT_OURS
end
return mark_started(job_prefix, queued, entry, now, record_ttl)
