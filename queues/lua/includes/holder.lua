-- Checks shared by the operations that take a request out of any open state
-- (transfer, escalate, abandon): the caller read queue and agent first and passes them,
-- so that every key the script touches came in through KEYS.
-- Returns state, channel; or a negative code.
-- `pending`: a request pending on the customer counts as held (abandon takes it; a transfer or
-- an escalation does not: the agent resumes it first).
local function check_holder(reqKey, queueName, expectedAgent, pending)
  local r = redis.call('HMGET', reqKey, 'state', 'queue', 'agent', 'channel')
  if not r[1] then return -1 end
  local held = r[1] == 'offered' or r[1] == 'assigned' or (pending and r[1] == 'pending_customer')
  if r[1] ~= 'waiting' and not held then return -2 end
  if r[2] ~= queueName or (r[3] or '') ~= expectedAgent then return -9 end
  return r[1], r[4]
end

-- Take the request out of wherever it is now (queue, or the agent and the offer list).
local function detach(reqKey, queueKey, agentKey, holdsKey, offersKey, reqId, state, channel)
  if state == 'waiting' then
    redis.call('ZREM', queueKey, reqId)
  else
    release(agentKey, holdsKey, reqId, channel)
    redis.call('ZREM', offersKey, reqId)
  end
end
