--[[ accept: the agent takes the request offered to it, before the deadline.

  KEYS[1] request hash   KEYS[2] offers sorted set   KEYS[3] agent hash   KEYS[4] events stream

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] stream max length

  Returns 1, or -1 no such request, -2 not offered, -6 offered to someone else,
  -10 the deadline has passed.
]]
--- @include "common"

local r = redis.call('HMGET', KEYS[1], 'state', 'agent', 'deadline', 'queue')
if not r[1] then return -1 end
if r[1] ~= 'offered' then return -2 end
if r[2] ~= ARGV[2] then return -6 end
if tonumber(r[3]) < now_ms() then return -10 end
redis.call('HSET', KEYS[1], 'state', 'assigned')
redis.call('HDEL', KEYS[1], 'deadline')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'missed', 0)
emit(KEYS[4], ARGV[3], 'accepted', ARGV[1], ARGV[2], r[4])
return 1
