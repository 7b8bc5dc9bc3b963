--[[ chat_idle: one daemon's idle sweep. It reports the conversations it heard from (a message,
     or a socket open here) and asks which of those it has not heard from for the idle time have
     been heard by no daemon either.

  KEYS[1] chat last-heard sorted set

  ARGV[1] idle time in ms   ARGV[2] n, the number of conversations heard
  ARGV[3 .. 2+n] conversations heard   ARGV[3+n ..] conversations idle here

  Returns the conversations idle everywhere (never heard of counts as idle). Entries unheard
  for ten idle times are dropped.
]]
--- @include "common"

local now = now_ms()
local idle = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
for i = 3, 2 + n do
  redis.call('ZADD', KEYS[1], now, ARGV[i])
end
local out = {}
for i = 3 + n, #ARGV do
  local heard = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not heard or now - tonumber(heard) >= idle then
    out[#out + 1] = ARGV[i]
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 10 * idle)
return out
