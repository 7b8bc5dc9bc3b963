--[[ outbox_dead: the event goes to the sink's dead-letter list; the lane's next event is due.
     The event's copy is kept, for replay.

  KEYS[1] sink's lanes   KEYS[2] sink's due   KEYS[3] sink's leases   KEYS[4] sink's attempts
  KEYS[5] sink's dead letters   KEYS[6] sink's event copies

  ARGV[1] lane   ARGV[2] entry id   ARGV[3] consumer name (the lease holder)
  ARGV[4] failed attempts   ARGV[5] the last error

  Returns 1, or 0 when the lease was lost (another consumer took the lane over).
]]
--- @include "common"
--- @include "outbox"

if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[3] then return 0 end
redis.call('ZREM', KEYS[1], lane_member(ARGV[1], ARGV[2]))
redis.call('HDEL', KEYS[4], ARGV[2])
redis.call('HSET', KEYS[5], ARGV[2], cjson.encode({
  lane = ARGV[1], attempts = tonumber(ARGV[4]), error = ARGV[5],
  dead_ms = string.format('%.0f', now_ms())}))
advance(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
return 1
