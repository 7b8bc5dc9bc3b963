--[[ reclassify: an agent holding an open request, or a supervisor, corrects its category,
     priority and skills after intake. A waiting request is re-scored in its queue with the new
     priority band (keeping its place in arrival order, its `seq`), so that the next round
     routes it again with the new skills; one held or pending keeps its holder.

  KEYS[1] request hash   KEYS[2] its queue's sorted set   KEYS[3] events stream

  ARGV[1] request id   ARGV[2] the request's data as the caller read it (msgpack)
  ARGV[3] the new data (msgpack, with the new category, priority and skills)
  ARGV[4] the new priority band   ARGV[5] the new category ('' none)
  ARGV[6] the queue the caller read   ARGV[7] the holder required ('' for any: a supervisor)
  ARGV[8] stream max length   ARGV[9] before (JSON)   ARGV[10] after (JSON)
  ARGV[11] the acting agent or supervisor ('' none), for the event

  The event `reclassified` carries by, before, after (JSON of category, priority, skills),
  channel and category (the new one), and `routed` ('1': it was waiting, routed again).

  Returns the record after (HGETALL); or -1 no such request, -2 completed or abandoned,
  -15 not held by the required agent, -9 the data or queue changed since the caller read them
  (nothing changed: read again and call again).
]]
--- @include "common"

local r = redis.call('HMGET', KEYS[1], 'state', 'agent', 'queue', 'data', 'seq', 'channel')
if not r[1] then return -1 end
if r[1] == 'completed' or r[1] == 'abandoned' then return -2 end
if ARGV[7] ~= '' and (r[2] or '') ~= ARGV[7] then return -15 end
if r[4] ~= ARGV[2] or r[3] ~= ARGV[6] then return -9 end
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'band', ARGV[4], 'category', ARGV[5])
local routed = '0'
if r[1] == 'waiting' then
  local score = string.format('%.0f', tonumber(ARGV[4]) * 4294967296 + tonumber(r[5]))
  redis.call('HSET', KEYS[1], 'score', score)
  redis.call('ZADD', KEYS[2], 'XX', score, ARGV[1])
  routed = '1'
end
emit(KEYS[3], ARGV[8], 'reclassified', ARGV[1], r[2] or '', r[3],
  {'by', ARGV[11], 'before', ARGV[9], 'after', ARGV[10], 'channel', r[6] or '',
   'category', ARGV[5], 'routed', routed})
return redis.call('HGETALL', KEYS[1])
