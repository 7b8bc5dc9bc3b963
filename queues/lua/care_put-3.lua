--[[ care_put: put a customer on a care list (important, low_satisfaction), or change how long
     they stay there; the change is an event every daemon's copy of the lists follows.

  KEYS[1] the list (hash: entry key -> JSON {e: entry as written, u: until ms or 0, s: source,
          r: reason, at: when ms})
  KEYS[2] events stream
  KEYS[3] the list's removed config entries (set)

  ARGV[1] list name   ARGV[2] entry key (email:a@b.cn, phone:+86..., id:C-1)
  ARGV[3] entry as written   ARGV[4] until, Unix ms ('0': for ever)   ARGV[5] source (api, survey)
  ARGV[6] stream max length   ARGV[7] reason ('' none)

  Returns 1 when the entry is new on the list, 0 when it was there (and is updated).
]]
--- @include "common"

local was = redis.call('HEXISTS', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode({
  e = ARGV[3], u = tonumber(ARGV[4]), s = ARGV[5], r = ARGV[7],
  at = math.floor(now_ms())}))
redis.call('SREM', KEYS[3], ARGV[2])
emit(KEYS[2], ARGV[6], 'customer.listed', '', '', '',
  {'list', ARGV[1], 'key', ARGV[2], 'entry', ARGV[3], 'until_ms', ARGV[4],
   'source', ARGV[5], 'reason', ARGV[7]})
return 1 - was
