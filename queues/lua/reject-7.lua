--[[ reject: the agent turns the offer down; the request waits again with its original age and
     the agent is never offered it again.

  KEYS[1] request hash      KEYS[2] queue sorted set   KEYS[3] agent hash
  KEYS[4] agent holds hash  KEYS[5] offers sorted set  KEYS[6] request's excluded agents
  KEYS[7] events stream

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] queue name (as the caller last saw it)
  ARGV[4] reason   ARGV[5] stream max length
  ARGV[6] '1' when only the request's holder may reject it (an agent's own token)

  Returns the record after the change (HGETALL); or -1 no such request, -15 not held by the
  agent (with ARGV[6]), -2 not offered, -6 offered to someone else, or {-9, queue, holder}
  when the request is in another queue than ARGV[3]: nothing changed, call again with those.
]]
--- @include "common"
--- @include "give_back"
--- @include "facts"

local held = check_required(KEYS[1], ARGV[2], ARGV[6])
if type(held) == 'number' then return held end
local r = check_offer(KEYS[1], ARGV[2], ARGV[3])
if r == -9 then return stale(KEYS[1]) end
if type(r) == 'number' then return r end
give_back(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2], r[4])
emit(KEYS[7], ARGV[5], 'rejected', ARGV[1], ARGV[2], ARGV[3], {'reason', ARGV[4]})
return redis.call('HGETALL', KEYS[1])
