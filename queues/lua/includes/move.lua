-- Shared by transfer and escalate: the request leaves wherever it is (queue or agent) and
-- waits in `toKey` with the score it was first given, so it keeps its age.
local function move(reqKey, fromKey, toKey, agentKey, holdsKey, offersKey, queuesKey,
                    reqId, state, channel, toName)
  detach(reqKey, fromKey, agentKey, holdsKey, offersKey, reqId, state, channel)
  redis.call('HSET', reqKey, 'queue', toName)
  redis.call('HINCRBY', reqKey, 'moves', 1)  -- no first-contact resolution after a move
  redis.call('SADD', queuesKey, toName)
  requeue(reqKey, toKey, reqId)
end
