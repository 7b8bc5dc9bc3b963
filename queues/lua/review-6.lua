--[[ review: a reviewer scores a closed request; one review per request, the first wins.

  KEYS[1] request hash   KEYS[2] its review hash   KEYS[3] pending reviews sorted set
  KEYS[4] reviewed sorted set   KEYS[5] the day's reviews sorted set (the day it closed, for a
  request not sampled)   KEYS[6] events stream

  ARGV[1] request id   ARGV[2] reviewer (the token's name)   ARGV[3] scores (JSON object)
  ARGV[4] comment   ARGV[5] stream max length   ARGV[6] the day it closed (when not sampled)
  ARGV[7] its category   ARGV[8] how long a closed request is kept, ms (0: always)

  The review hash lives as long as the request (its PTTL). Appends one review.submitted event.

  Returns the review after the change (HGETALL); or -1 no such request, -2 not closed
  (completed or abandoned), -3 reviewed already.
]]
--- @include "common"

local r = redis.call('HMGET', KEYS[1], 'state', 'channel', 'queue', 'agent', 'closed_ms')
if not r[1] then return -1 end
if r[1] ~= 'completed' and r[1] ~= 'abandoned' then return -2 end
if redis.call('HGET', KEYS[2], 'status') == 'done' then return -3 end
local now = now_ms()
local keep = tonumber(ARGV[8])
if keep and keep > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. string.format('%.0f', now - keep))
end
local closed = r[5] or string.format('%.0f', now)
local ttl = redis.call('PTTL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 0 then  -- picked by the reviewer, not sampled
  redis.call('HSET', KEYS[2], 'day', ARGV[6], 'sampled', '0', 'channel', r[2] or '',
    'category', ARGV[7], 'agent', r[4] or '', 'queue', r[3] or '', 'closed_ms', closed)
  redis.call('ZADD', KEYS[5], closed, ARGV[1])
  local day_ttl = redis.call('PTTL', KEYS[5])
  if ttl <= 0 then
    redis.call('PERSIST', KEYS[5])
  elseif day_ttl ~= -1 and ttl > day_ttl then
    redis.call('PEXPIRE', KEYS[5], ttl)
  end
end
redis.call('HSET', KEYS[2], 'status', 'done', 'state', r[1], 'scores', ARGV[3],
  'comment', ARGV[4], 'reviewer', ARGV[2], 'reviewed_ms', string.format('%.0f', now))
-- read again just before PEXPIRE, less 1 ms: the two commands may straddle a millisecond, and
-- the review must never outlive its request
ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then redis.call('PERSIST', KEYS[2]) else redis.call('PEXPIRE', KEYS[2], math.max(ttl - 1, 1)) end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], now, ARGV[1])
local review = redis.call('HMGET', KEYS[2], 'day', 'sampled', 'agent', 'queue')
emit(KEYS[6], ARGV[5], 'review.submitted', ARGV[1], review[3], review[4],
  {'reviewer', ARGV[2], 'day', review[1], 'sampled', review[2], 'scores', ARGV[3],
   'comment', ARGV[4]})
return redis.call('HGETALL', KEYS[2])
