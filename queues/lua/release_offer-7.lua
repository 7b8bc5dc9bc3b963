--[[ release_offer: an offer held by an agent not heard for the presence grace goes back to
     waiting at once, as an expired offer does (same event type, with a reason), without waiting
     for its deadline. The agent's load drops; the agent is not excluded from the request (it
     may come back). Last-heard is read again here, so a reconnect and several sweepers race
     safely.

  KEYS[1] request hash      KEYS[2] queue sorted set   KEYS[3] agent hash
  KEYS[4] agent holds hash  KEYS[5] offers sorted set  KEYS[6] agents' last-heard sorted set
  KEYS[7] events stream

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] queue name   ARGV[4] grace in ms
  ARGV[5] reason   ARGV[6] stream max length

  Returns 1, or -1 no such request, -2 not offered, -6 offered to someone else, -9 queue moved,
  -14 the agent was heard within the grace.
]]
--- @include "common"
--- @include "give_back"

local r = check_offer(KEYS[1], ARGV[2], ARGV[3])
if type(r) == 'number' then return r end
local heard = redis.call('ZSCORE', KEYS[6], ARGV[2])
if not heard or now_ms() - tonumber(heard) < tonumber(ARGV[4]) then return -14 end
release(KEYS[3], KEYS[4], ARGV[1], r[4])
redis.call('ZREM', KEYS[5], ARGV[1])
requeue(KEYS[1], KEYS[2], ARGV[1])
emit(KEYS[7], ARGV[6], 'expired', ARGV[1], ARGV[2], ARGV[3], {'reason', ARGV[5]})
return 1
