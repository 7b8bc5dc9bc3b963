--[[ quality_sample: store a day's quality sample in the review queue, once.

  KEYS[1] quality days hash   KEYS[2] the day's claim   KEYS[3] pending reviews sorted set
  KEYS[4] the day's reviews sorted set   KEYS[5] events stream
  KEYS[6..] pairs: a sampled request's hash, its review hash

  ARGV[1] day   ARGV[2] the claimant's token   ARGV[3] stream max length
  ARGV[4] JSON summary of the sample (closed, share, ...)   ARGV[5] how long a closed request is
  kept, ms (0: always): pending entries older are gone with their requests
  ARGV[6..] pairs: the sampled request's id, its category

  A request whose hash is gone is skipped; one already under review (sampled or picked before)
  keeps its review. Each review hash lives as long as its request (its PTTL), the day's set
  as long as the longest of them. Appends one quality.sampled event.

  Returns {stored, size}, or 0 the day was sampled already, -1 the claim is another's.
]]
--- @include "common"

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return -1 end
local now = now_ms()
local keep = tonumber(ARGV[5])
if keep and keep > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%.0f', now - keep))
end
local stored, longest, forever = 0, 0, false
local size = (#KEYS - 5) / 2
for i = 1, size do
  local reqKey, reviewKey = KEYS[4 + 2 * i], KEYS[5 + 2 * i]
  local id, category = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
  local r = redis.call('HMGET', reqKey, 'state', 'channel', 'queue', 'agent', 'closed_ms')
  if r[1] and redis.call('EXISTS', reviewKey) == 0 then
    local closed = r[5] or string.format('%.0f', now)
    redis.call('HSET', reviewKey, 'status', 'pending', 'day', ARGV[1], 'sampled', '1',
      'channel', r[2] or '', 'category', category, 'agent', r[4] or '', 'queue', r[3] or '',
      'closed_ms', closed, 'state', r[1])
    local ttl = redis.call('PTTL', reqKey)
    if ttl > 0 then  -- less 1 ms: never outlive the request when the two calls straddle a ms
      redis.call('PEXPIRE', reviewKey, math.max(ttl - 1, 1))
      if ttl > longest then longest = ttl end
    else
      forever = true
    end
    redis.call('ZADD', KEYS[3], closed, id)
    redis.call('ZADD', KEYS[4], closed, id)
    stored = stored + 1
  end
end
if stored > 0 and not forever and longest > redis.call('PTTL', KEYS[4]) then
  redis.call('PEXPIRE', KEYS[4], longest)
elseif forever then
  redis.call('PERSIST', KEYS[4])
end
local summary = cjson.decode(ARGV[4])
summary['size'] = stored
summary['at_ms'] = now
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(summary))
redis.call('DEL', KEYS[2])
emit(KEYS[5], ARGV[3], 'quality.sampled', '', '', '',
  {'day', ARGV[1], 'size', tostring(stored), 'closed', tostring(summary['closed'] or 0),
   'share', tostring(summary['share'] or '')})
return {stored, size}
