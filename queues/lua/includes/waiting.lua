-- A new request put waiting: its hash, its place in its queue (the priority band first, then
-- arrival: `seq`), and its queue named in the set of queues. Returns the enqueue time (ms on the
-- Redis clock, as a string): the customer's list of requests is ordered by it.
local function put_waiting(reqKey, queueKey, seqKey, queuesKey, id, channel, queue, band, tier,
                           data, category)
  local seq = redis.call('INCR', seqKey)
  local score = string.format('%.0f', tonumber(band) * 4294967296 + seq)
  local now = string.format('%.0f', now_ms())
  redis.call('HSET', reqKey, 'data', data, 'state', 'waiting', 'queue', queue,
    'channel', channel, 'band', band, 'tier', tier, 'seq', seq, 'score', score,
    'enqueued_ms', now, 'messages', 0, 'category', category or '')
  redis.call('ZADD', queueKey, score, id)
  redis.call('SADD', queuesKey, queue)
  return now
end

local PRIORITIES = {[0] = 'high', [1] = 'medium', [2] = 'low'}

-- The enqueued event's fields: channel (as ever), and for the reports category, priority and
-- tier.
local function enqueued_fields(channel, category, band, tier)
  return {'channel', channel, 'category', category or '',
    'priority', PRIORITIES[tonumber(band)] or tostring(band), 'tier', tostring(tier)}
end
