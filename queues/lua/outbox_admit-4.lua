--[[ outbox_admit: events read by a consumer of a sink's group join their lanes, atomically
     with their acknowledgement, so an event is admitted once even when two consumers hold it
     (one reclaimed it from the other).

  KEYS[1] events stream   KEYS[2] sink's lanes   KEYS[3] sink's event copies   KEYS[4] sink's due

  ARGV[1] the sink's group
  ARGV[2..] triples: entry id, lane ('' when the sink does not want the event: acknowledged
            only), the event's fields as JSON

  Returns the number of events admitted.
]]
--- @include "common"
--- @include "outbox"

local now = now_ms()
local admitted = 0
for i = 2, #ARGV, 3 do
  local id, lane = ARGV[i], ARGV[i + 1]
  if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 and lane ~= '' then
    redis.call('ZADD', KEYS[2], 0, lane_member(lane, id))
    redis.call('HSET', KEYS[3], id, ARGV[i + 2])
    redis.call('ZADD', KEYS[4], 'NX', now, lane)
    admitted = admitted + 1
  end
end
return admitted
