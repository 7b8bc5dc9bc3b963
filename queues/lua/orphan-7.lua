--[[ orphan: work assigned to an agent that has been neither heard nor given work for the
     queue's orphaned_after. `requeue`: the request waits again in its queue with the score it
     was first given (ahead of later arrivals), the agent's load drops (event `requeued`, reason
     agent_gone). `flag`: it stays assigned and one `flagged` event is emitted per absence (the
     request keeps `flagged` = `<agent>:<ms when last heard or given work>` and is listed in
     the orphans sorted set, for supervisors). Last-heard is read again here, so a reconnect
     and several sweepers race safely.

  KEYS[1] request hash   KEYS[2] queue sorted set   KEYS[3] agent hash   KEYS[4] agent holds hash
  KEYS[5] agents' last-heard sorted set   KEYS[6] events stream   KEYS[7] orphans sorted set

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] queue name   ARGV[4] orphaned_after in ms
  ARGV[5] 'requeue' or 'flag'   ARGV[6] stream max length

  Returns 1 requeued, 2 flagged, 0 already flagged for this absence; -1 no such request,
  -2 not assigned, -6 assigned to someone else, -9 queue moved, -14 the agent was heard (or
  given work) within orphaned_after.
]]
--- @include "common"

local r = redis.call('HMGET', KEYS[1], 'state', 'agent', 'queue', 'channel', 'flagged')
if not r[1] then return -1 end
if r[1] ~= 'assigned' then return -2 end
if r[2] ~= ARGV[2] then return -6 end
if r[3] ~= ARGV[3] then return -9 end
local heard = redis.call('ZSCORE', KEYS[5], ARGV[2])
if not heard then return -14 end
local taken = tonumber(redis.call('HGET', KEYS[3], 'last_taken_ms') or '0')
local since = math.max(tonumber(heard), taken)
if now_ms() - since < tonumber(ARGV[4]) then return -14 end
if ARGV[5] == 'requeue' then
  release(KEYS[3], KEYS[4], ARGV[1], r[4])
  requeue(KEYS[1], KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[1], 'flagged')
  redis.call('ZREM', KEYS[7], ARGV[1])
  emit(KEYS[6], ARGV[6], 'requeued', ARGV[1], ARGV[2], ARGV[3], {'reason', 'agent_gone'})
  return 1
end
local mark = ARGV[2] .. ':' .. string.format('%.0f', since)
if r[5] == mark then return 0 end
redis.call('HSET', KEYS[1], 'flagged', mark)
redis.call('ZADD', KEYS[7], now_ms(), ARGV[1])
emit(KEYS[6], ARGV[6], 'flagged', ARGV[1], ARGV[2], ARGV[3],
  {'reason', 'agent_gone', 'since_ms', string.format('%.0f', since)})
return 2
