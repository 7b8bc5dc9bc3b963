--[[ outbox_retry: a delivery failed for now; the lane waits (its later events behind it).

  KEYS[1] sink's due   KEYS[2] sink's leases   KEYS[3] sink's attempts

  ARGV[1] lane   ARGV[2] entry id   ARGV[3] consumer name (the lease holder)
  ARGV[4] failed attempts so far   ARGV[5] ms until the next attempt

  Returns 1, or 0 when the lease was lost (another consumer took the lane over).
]]
--- @include "common"

if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[5]), ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
