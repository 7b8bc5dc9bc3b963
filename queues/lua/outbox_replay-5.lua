--[[ outbox_replay: dead letters go back to their lanes, due at once, with no attempts counted.
     A replayed event sorts before its lane's later events.

  KEYS[1] sink's dead letters   KEYS[2] sink's lanes   KEYS[3] sink's due
  KEYS[4] sink's attempts       KEYS[5] sink's event copies

  ARGV[1..] entry ids

  Returns the ids replayed (an id that is not a dead letter of this sink is left out).
]]
--- @include "common"
--- @include "outbox"

local now = now_ms()
local replayed = {}
for _, id in ipairs(ARGV) do
  local raw = redis.call('HGET', KEYS[1], id)
  if raw and padded_id(id) and redis.call('HEXISTS', KEYS[5], id) == 1 then
    local lane = cjson.decode(raw).lane
    redis.call('ZADD', KEYS[2], 0, lane_member(lane, id))
    redis.call('ZADD', KEYS[3], 'NX', now, lane)
    redis.call('HDEL', KEYS[4], id)
    redis.call('HDEL', KEYS[1], id)
    replayed[#replayed + 1] = id
  end
end
return replayed
