--[[ append_notice: a customer notice joins the thread of a request, open or just closed (the
     completion notice of a chat is shown in the conversation before its socket closes); the
     same notice twice is appended once.

  KEYS[1] the notice's idempotency key   KEYS[2] request hash   KEYS[3] messages list
  KEYS[4] events stream

  ARGV[1] request id   ARGV[2] msgpack message (author system)   ARGV[3] idempotency TTL in s
  ARGV[4] stream max length

  A closed request's thread keeps the request's own expiry (a new list takes the hash's TTL).
  The event is a `message` with author system; no clock moves.

  Returns the message count after the append, 0 for a duplicate, -1 no such request.
]]
--- @include "common"

if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local r = redis.call('HMGET', KEYS[2], 'state', 'queue', 'agent')
if not r[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[2])
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
local n = redis.call('HINCRBY', KEYS[2], 'messages', 1)
emit(KEYS[4], ARGV[4], 'message', ARGV[1], r[3], r[2], {'author', 'system'})
return n
