--[[ hear: one daemon's heartbeat. The agents it heard since its last beat (an open agent
     WebSocket, an API call with the agent's token) are noted as heard now, in one call.

  KEYS[1] agents' last-heard sorted set

  ARGV[1..n] agent ids heard

  Returns the Redis clock (ms) the agents were heard at.
]]
--- @include "common"

local now = now_ms()
for i = 1, #ARGV do
  redis.call('ZADD', KEYS[1], now, ARGV[i])
end
return now
