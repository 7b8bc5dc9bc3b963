--[[ vanish: an agent not heard for the presence grace (no open socket, no API call) is set away
     with the reason "connection lost". Last-heard is read again here, so a reconnect and the
     sweepers of several daemons race safely: the first sweeper changes the presence, the others
     find nothing to do. An agent that became available after it was last heard (a supervisor
     set it) counts as heard then. An agent neither available nor holding anything is forgotten
     (it is watched again once heard).

  KEYS[1] agent hash   KEYS[2] agent holds hash   KEYS[3] agents' last-heard sorted set
  KEYS[4] events stream

  ARGV[1] agent id   ARGV[2] grace in ms   ARGV[3] reason   ARGV[4] stream max length

  The presence event carries previous and previous_ms as set_presence's does.

  Returns 1 set away (with one presence event), 0 not available (nothing changed),
  -4 unknown agent (forgotten), -14 heard within the grace.
]]
--- @include "common"

local heard = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not heard then return -14 end
local a = redis.call('HMGET', KEYS[1], 'presence', 'available_since_ms')
if not a[1] then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return -4
end
local since = tonumber(heard)
if a[1] == 'available' and tonumber(a[2] or '0') > since then
  since = tonumber(a[2])
  redis.call('ZADD', KEYS[3], since, ARGV[1])
end
if now_ms() - since < tonumber(ARGV[2]) then return -14 end
if a[1] ~= 'available' then
  if redis.call('HLEN', KEYS[2]) == 0 then redis.call('ZREM', KEYS[3], ARGV[1]) end
  return 0
end
local was = presence_to(KEYS[1], 'away', now_ms())
redis.call('HSET', KEYS[1], 'away_reason', ARGV[3])
emit(KEYS[4], ARGV[4], 'presence', '', ARGV[1], '',
  {'presence', 'away', 'reason', ARGV[3], unpack(was)})
return 1
