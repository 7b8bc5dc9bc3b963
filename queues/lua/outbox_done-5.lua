--[[ outbox_done: the sink took the event (or does not want it); the lane's next event is due.

  KEYS[1] sink's lanes   KEYS[2] sink's event copies   KEYS[3] sink's due   KEYS[4] sink's leases
  KEYS[5] sink's attempts

  ARGV[1] lane   ARGV[2] entry id   ARGV[3] consumer name (the lease holder)

  Returns 1, or 0 when the lease was lost (another consumer took the lane over).
]]
--- @include "common"
--- @include "outbox"

if redis.call('HGET', KEYS[4], ARGV[1]) ~= ARGV[3] then return 0 end
redis.call('ZREM', KEYS[1], lane_member(ARGV[1], ARGV[2]))
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[5], ARGV[2])
advance(KEYS[1], KEYS[3], KEYS[4], ARGV[1])
return 1
