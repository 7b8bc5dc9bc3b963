--[[ outbox_release: a consumer stopping gives back every lane it holds a lease on, due at once
     (what it was delivering may have reached the receiver: it is delivered again).

  KEYS[1] sink's due   KEYS[2] sink's leases

  ARGV[1] consumer name

  Returns the number of lanes given back.
]]
--- @include "common"

local now = now_ms()
local leases = redis.call('HGETALL', KEYS[2])
local released = 0
for i = 1, #leases, 2 do
  if leases[i + 1] == ARGV[1] then
    redis.call('HDEL', KEYS[2], leases[i])
    redis.call('ZADD', KEYS[1], now, leases[i])
    released = released + 1
  end
end
return released
