--[[ feedback: the customer's answer to the satisfaction survey of a completed request, once:
     the first answer wins. A low score puts the customer on the low_satisfaction care list for
     a while; a good one takes them off it, when a low score put them there.

  KEYS[1] request hash   KEYS[2] events stream   KEYS[3] the low_satisfaction list (hash)
  KEYS[4] that list's removed config entries (set)

  ARGV[1] request id   ARGV[2] score 1-5   ARGV[3] the dimensions' scores (JSON object)
  ARGV[4] comment   ARGV[5] how it came (page, chat, email, social)
  ARGV[6] how long after completion an answer is taken, ms   ARGV[7] stream max length
  ARGV[8] a score at or below this puts the customer on the list ('0': never)
  ARGV[9] for how long, ms   ARGV[10] a score at or above this takes them off ('6': never)
  ARGV[11] the customer's entry key (id:C-1; '' none)   ARGV[12] the entry as written

  The event feedback.received carries score, dimensions, comment, via, and channel and
  category for the reports.

  Returns {'ok', listed}: listed 'on', 'off' or ''; or -1 no such request, -2 not completed,
  -20 answered before, -21 the time to answer is over.
]]
--- @include "common"

local r = redis.call('HMGET', KEYS[1], 'state', 'closed_ms', 'agent', 'queue', 'feedback',
  'channel', 'category')
if not r[1] then return -1 end
if r[1] ~= 'completed' then return -2 end
if r[5] then return -20 end
local now = now_ms()
if now > tonumber(r[2] or '0') + tonumber(ARGV[6]) then return -21 end
local score = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'feedback', cjson.encode({
  score = score, dimensions = cjson.decode(ARGV[3]), comment = ARGV[4], via = ARGV[5],
  at = math.floor(now)}))
emit(KEYS[2], ARGV[7], 'feedback.received', ARGV[1], r[3], r[4],
  {'score', ARGV[2], 'dimensions', ARGV[3], 'comment', ARGV[4], 'via', ARGV[5],
   'channel', r[6] or '', 'category', r[7] or ''})
local listed = ''
if ARGV[11] ~= '' then
  if score <= tonumber(ARGV[8]) then
    local untilMs = math.floor(now + tonumber(ARGV[9]))
    redis.call('HSET', KEYS[3], ARGV[11], cjson.encode({
      e = ARGV[12], u = untilMs, s = 'survey', r = 'score ' .. ARGV[2] .. ' on ' .. ARGV[1],
      at = math.floor(now)}))
    redis.call('SREM', KEYS[4], ARGV[11])
    emit(KEYS[2], ARGV[7], 'customer.listed', ARGV[1], '', '',
      {'list', 'low_satisfaction', 'key', ARGV[11], 'entry', ARGV[12],
       'until_ms', string.format('%.0f', untilMs), 'source', 'survey',
       'reason', 'score ' .. ARGV[2]})
    listed = 'on'
  elseif score >= tonumber(ARGV[10]) then
    local held = redis.call('HGET', KEYS[3], ARGV[11])
    if held and cjson.decode(held).s == 'survey' then
      redis.call('HDEL', KEYS[3], ARGV[11])
      emit(KEYS[2], ARGV[7], 'customer.unlisted', ARGV[1], '', '',
        {'list', 'low_satisfaction', 'key', ARGV[11], 'entry', ARGV[12], 'source', 'survey'})
      listed = 'off'
    end
  end
end
return {'ok', listed}
