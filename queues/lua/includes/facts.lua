-- Shared by the agent's verbs (accept, reject, complete, transfer, escalate): the caller passes
-- the request's queue and holder from what it last saw (a cache), so that every key comes in
-- KEYS with no read first; when they were wrong, the script changes nothing and answers
-- {-9, queue, holder} with the true ones, and the caller calls once more with those.
local function stale(reqKey)
  local r = redis.call('HMGET', reqKey, 'queue', 'agent')
  return {-9, r[1] or '', r[2] or ''}
end

-- The agent token's check: with `required` set, only the request's holder may act on it
-- (-15), whatever its state. Returns the request's {state, agent}, or -1 when it is unknown.
local function check_required(reqKey, agentId, required)
  local r = redis.call('HMGET', reqKey, 'state', 'agent')
  if not r[1] then return -1 end
  if required == '1' and r[2] ~= agentId then return -15 end
  return r
end

-- transfer and escalate: checks the holder an agent token requires ('' for any), then that
-- the caller's queue and holder are the request's (else the true ones, as `stale` gives), then
-- that the request is open. Returns state, channel; or a negative code, or the stale answer.
local function check_move(reqKey, queueName, expectedAgent, requiredAgent)
  local r = redis.call('HMGET', reqKey, 'state', 'queue', 'agent', 'channel')
  if not r[1] then return -1 end
  if requiredAgent ~= '' and (r[3] or '') ~= requiredAgent then return -15 end
  if r[2] ~= queueName or (r[3] or '') ~= expectedAgent then return {-9, r[2], r[3] or ''} end
  if r[1] ~= 'waiting' and r[1] ~= 'offered' and r[1] ~= 'assigned' then return -2 end
  return r[1], r[4]
end
