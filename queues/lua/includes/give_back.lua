-- Shared by reject and expire_offer: checks that `agentId` holds the offer of `reqId` in
-- `queueName`; returns {state, agent, queue, channel, deadline} or a negative code.
local function check_offer(reqKey, agentId, queueName)
  local r = redis.call('HMGET', reqKey, 'state', 'agent', 'queue', 'channel', 'deadline')
  if not r[1] then return -1 end
  if r[1] ~= 'offered' then return -2 end
  if r[2] ~= agentId then return -6 end
  if r[3] ~= queueName then return -9 end
  return r
end

-- The offer goes back: the agent's capacity returns, the agent is excluded from this request,
-- and the request waits again with its original score.
local function give_back(reqKey, queueKey, agentKey, holdsKey, offersKey, excludedKey,
                         reqId, agentId, channel)
  release(agentKey, holdsKey, reqId, channel)
  redis.call('ZREM', offersKey, reqId)
  redis.call('SADD', excludedKey, agentId)
  requeue(reqKey, queueKey, reqId)
end
