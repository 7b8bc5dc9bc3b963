--[[ outbox_take: lease the first event of lanes that are due, for one consumer to deliver.

  A lane's first event is held back while the group has an older entry read but not yet
  admitted (it may belong to the same lane): order per lane holds across consumers.

  KEYS[1] events stream   KEYS[2] sink's lanes   KEYS[3] sink's event copies   KEYS[4] sink's due
  KEYS[5] sink's leases   KEYS[6] sink's attempts

  ARGV[1] the sink's group   ARGV[2] most events to lease   ARGV[3] lease length in ms
  ARGV[4] consumer name   ARGV[5] most due lanes to look at

  Returns {held back, ms until the next lane is due (-1: none), {lane, entry id, fields JSON
  (nil if lost), failed attempts so far}...}.
]]
--- @include "common"
--- @include "outbox"

local now = now_ms()
local want = tonumber(ARGV[2])
local low = nil
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
if tonumber(pending[1]) > 0 then low = padded_id(pending[2]) end

local taken, held = {}, 0
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
for _, lane in ipairs(due) do
  if #taken >= want then break end
  local head = lane_head(KEYS[2], lane)
  if not head then
    redis.call('ZREM', KEYS[4], lane)
    redis.call('HDEL', KEYS[5], lane)
  else
    local padded = string.sub(head, #lane + 2)
    if low and padded >= low then
      held = held + 1
      redis.call('ZADD', KEYS[4], now, lane)  -- to the back of the due lanes
    else
      local id = unpadded_id(padded)
      redis.call('ZADD', KEYS[4], now + tonumber(ARGV[3]), lane)
      redis.call('HSET', KEYS[5], lane, ARGV[4])
      taken[#taken + 1] = {lane, id, redis.call('HGET', KEYS[3], id),
        redis.call('HGET', KEYS[6], id) or '0'}
    end
  end
end

local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local next_ms = -1
if first[2] then next_ms = math.max(0, tonumber(first[2]) - now) end
return {held, next_ms, taken}
