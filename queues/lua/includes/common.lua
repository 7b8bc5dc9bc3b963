-- Shared helpers, included at the top of every script by queues/scripts.py.

-- Milliseconds since the epoch on the Redis clock: one clock for every daemon, and one instant
-- for the whole script call (read once): an event's ts, the durations it carries and the
-- instants the script stores agree to the millisecond.
local _now_ms = nil
local function now_ms()
  if _now_ms == nil then
    local t = redis.call('TIME')
    _now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return _now_ms
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

-- What the reports need of a request (router/reports/figures.py), read from its hash: its
-- channel, its category and the ms since it was enqueued ('' when not known).
local function report_facts(reqKey, now)
  local r = redis.call('HMGET', reqKey, 'channel', 'category', 'enqueued_ms')
  local since = r[3] and string.format('%.0f', now - tonumber(r[3])) or ''
  return r[1] or '', r[2] or '', since
end

-- The first response to the request, now, if it has had none: the ms since it was enqueued
-- (nil when it had one already). Its first agent message, or its taking for a policy that
-- counts that (a callback).
local function first_reply(reqKey, now)
  if redis.call('HSETNX', reqKey, 'first_reply_ms', string.format('%.0f', now)) == 0 then
    return nil
  end
  local since = redis.call('HGET', reqKey, 'enqueued_ms')
  return since and string.format('%.0f', now - tonumber(since)) or nil
end

-- An agent takes the request (accept, assign): the instant is noted (its handle time counts
-- from it), and the first agent ever to take it (first-contact resolution). Returns the event
-- fields the reports read: channel, category, wait_ms (since it was enqueued), first ('1':
-- the first agent to take it), and first_response_ms when taking it is its first response.
local function took(reqKey, agent)
  local now = now_ms()
  local channel, category, waited = report_facts(reqKey, now)
  local first = redis.call('HSETNX', reqKey, 'first_agent', agent)
  redis.call('HSET', reqKey, 'taken_ms', string.format('%.0f', now))
  local fields = {'channel', channel, 'category', category, 'wait_ms', waited,
    'first', tostring(first)}
  local raw = redis.call('HGET', reqKey, 'sla')
  if raw and cjson.decode(raw).by == 'accept' then
    local fr = first_reply(reqKey, now)
    if fr then
      fields[#fields + 1] = 'first_response_ms'
      fields[#fields + 1] = fr
    end
  end
  return fields
end

-- An agent's presence becomes `presence`; returns the event fields that say what it was and
-- for how long (previous, previous_ms: '' when not known), which the reports add up.
local function presence_to(agentKey, presence, now)
  local r = redis.call('HMGET', agentKey, 'presence', 'presence_ms')
  redis.call('HSET', agentKey, 'presence', presence, 'presence_ms', string.format('%.0f', now))
  local lasted = r[2] and string.format('%.0f', math.max(now - tonumber(r[2]), 0)) or ''
  return {'previous', r[1] or '', 'previous_ms', lasted}
end
