-- Can `agentId` take waiting request `reqId` from queue `queueName`? An agent must be available,
-- out of wrap-up, not excluded from the request, and have spare capacity on its channel; `force`
-- (a supervisor's assignment) waives all but the capacity, which is never exceeded.
-- Returns the request's channel, or a negative code (see queues/errors.py ErrorCode).
local function check_take(reqKey, agentKey, excludedKey, reqId, agentId, queueName, force)
  local r = redis.call('HMGET', reqKey, 'state', 'queue', 'channel')
  if not r[1] then return -1 end
  if r[1] ~= 'waiting' then return -2 end
  if r[2] ~= queueName then return -9 end
  local a = redis.call('HMGET', agentKey, 'presence', 'cap:' .. r[3], 'load:' .. r[3],
    'wrap_until_ms')
  if not a[1] then return -4 end
  if not force then
    if a[1] ~= 'available' or tonumber(a[4] or '0') > now_ms() then return -5 end
    if redis.call('SISMEMBER', excludedKey, agentId) == 1 then return -7 end
  end
  if tonumber(a[3] or '0') >= tonumber(a[2] or '0') then return -3 end
  return r[3]
end

-- Move the request from its queue to the agent: load +1, recorded among the agent's holds,
-- the time noted (the agent's idle time counts from it) and the routing explanation kept.
local function take(reqKey, queueKey, agentKey, holdsKey, reqId, agentId, channel, state, why)
  redis.call('ZREM', queueKey, reqId)
  redis.call('HINCRBY', agentKey, 'load:' .. channel, 1)
  redis.call('HSET', agentKey, 'last_taken_ms', string.format('%.0f', now_ms()))
  redis.call('HSET', holdsKey, reqId, channel)
  redis.call('HSET', reqKey, 'state', state, 'agent', agentId, 'why', why)
end
