-- Shared helpers, included at the top of every script by queues/scripts.py.

-- Milliseconds since the epoch on the Redis clock: one clock for every daemon.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Append one event to the stream, trimmed to about `maxlen` entries.
-- `extra` is a flat list of further field/value pairs.
local function emit(stream, maxlen, etype, req, agent, queue, extra)
  local args = {'XADD', stream, 'MAXLEN', '~', maxlen, '*',
    'type', etype, 'req', req or '', 'agent', agent or '', 'queue', queue or '',
    'ts', string.format('%.0f', now_ms())}
  for _, v in ipairs(extra or {}) do args[#args + 1] = v end
  return redis.call(unpack(args))
end

-- A closed request's keys expire after `keep` ms ('0': kept for ever). `keep` is
-- '<normal>/<important>': an important customer's request (marked so at intake) and one
-- escalated to tier 2 or above are kept the longer; the class is fixed here, at the close.
local function keep_for(keep, reqKey, messagesKey, excludedKey)
  local normal, long = string.match(keep, '^(%d+)/(%d+)$')
  local ms = tonumber(normal or keep)
  if long then
    local r = redis.call('HMGET', reqKey, 'keep', 'tier')
    local class = (r[1] == 'important' or tonumber(r[2] or '1') >= 2) and 'important' or 'normal'
    if class == 'important' then ms = tonumber(long) end
    redis.call('HSET', reqKey, 'retention', class)
  end
  if ms and ms > 0 then
    for _, key in ipairs({reqKey, messagesKey, excludedKey}) do
      redis.call('PEXPIRE', key, ms)
    end
  end
end

-- Put a request back among the waiting of `queueKey`, with the score it was first given.
local function requeue(reqKey, queueKey, reqId)
  local score = redis.call('HGET', reqKey, 'score')
  redis.call('ZADD', queueKey, score, reqId)
  redis.call('HSET', reqKey, 'state', 'waiting')
  redis.call('HDEL', reqKey, 'agent', 'deadline')
end

-- Give back the capacity that a held request took from its agent.
local function release(agentKey, holdsKey, reqId, channel)
  if redis.call('HDEL', holdsKey, reqId) == 1 then
    redis.call('HINCRBY', agentKey, 'load:' .. channel, -1)
  end
end
