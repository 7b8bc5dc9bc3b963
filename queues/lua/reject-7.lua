--[[ reject: the agent turns the offer down; the request waits again with its original age and
     the agent is never offered it again.

  KEYS[1] request hash      KEYS[2] queue sorted set   KEYS[3] agent hash
  KEYS[4] agent holds hash  KEYS[5] offers sorted set  KEYS[6] request's excluded agents
  KEYS[7] events stream

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] queue name   ARGV[4] reason
  ARGV[5] stream max length

  Returns 1, or -1 no such request, -2 not offered, -6 offered to someone else, -9 queue moved.
]]
--- @include "common"
--- @include "give_back"

local r = check_offer(KEYS[1], ARGV[2], ARGV[3])
if type(r) == 'number' then return r end
give_back(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2], r[4])
emit(KEYS[7], ARGV[5], 'rejected', ARGV[1], ARGV[2], ARGV[3], {'reason', ARGV[4]})
return 1
