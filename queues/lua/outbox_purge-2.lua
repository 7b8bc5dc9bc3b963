--[[ outbox_purge: dead letters removed for good, with their event copies.

  KEYS[1] sink's dead letters   KEYS[2] sink's event copies

  ARGV[1] only those dead for longer than this many ms (Redis clock); -1: whatever their age
  ARGV[2..] entry ids

  Returns the ids purged (an id that is not a dead letter of this sink, or not old enough, is
  left out: one replayed meanwhile is back in its lane and keeps its copy).
]]
--- @include "common"

local age = tonumber(ARGV[1])
local before = age < 0 and -1 or now_ms() - age
local purged = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], id)
  if raw and (before < 0 or tonumber(cjson.decode(raw).dead_ms) < before) then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    purged[#purged + 1] = id
  end
end
return purged
