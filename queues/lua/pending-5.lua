--[[ pending: the agent waits on the customer (`pause`: assigned -> pending_customer; the
     request's clocks stop running and keep what they have left), or takes a pending request up
     again without the customer's answer (`resume`: pending_customer -> assigned). A customer's
     message resumes it too (intake, append_message). The agent keeps holding it either way.

  KEYS[1] request hash   KEYS[2] events stream
  KEYS[3] SLA due instants   KEYS[4] calendars' working spans   KEYS[5] SLA counters

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] 'pause' or 'resume'   ARGV[4] stream max length
  ARGV[5] '1' when only the request's holder may do it (an agent's own token)
  ARGV[6] the reason (free text, '' none)

  Returns the record after the change (HGETALL); or -1 no such request, -15 not held by the
  agent (with ARGV[5]), -2 not assigned (pause) or not pending (resume), -6 held by another.
]]
--- @include "common"
--- @include "clocks"

local r = redis.call('HMGET', KEYS[1], 'state', 'agent', 'queue')
if not r[1] then return -1 end
if ARGV[5] == '1' and r[2] ~= ARGV[2] then return -15 end
local pause = ARGV[3] == 'pause'
if r[1] ~= (pause and 'assigned' or 'pending_customer') then return -2 end
if r[2] ~= ARGV[2] then return -6 end
sla_context(KEYS[3], KEYS[4], KEYS[5], KEYS[2], ARGV[4])
local now = now_ms()
local c = sla_load(KEYS[1])
if pause then
  redis.call('HSET', KEYS[1], 'state', 'pending_customer', 'pending_ms',
    string.format('%.0f', now))
  emit(KEYS[2], ARGV[4], 'pending', ARGV[1], ARGV[2], r[3], {'reason', ARGV[6]})
  if c then sla_pause(c, ARGV[1], now) end
else
  redis.call('HSET', KEYS[1], 'state', 'assigned')
  redis.call('HDEL', KEYS[1], 'pending_ms')
  emit(KEYS[2], ARGV[4], 'resumed', ARGV[1], ARGV[2], r[3], {'by', 'agent'})
  if c then sla_resume(c, ARGV[1], now) end
end
if c then sla_save(KEYS[1], c) end
return redis.call('HGETALL', KEYS[1])
