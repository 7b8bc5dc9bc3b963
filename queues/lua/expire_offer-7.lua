--[[ expire_offer: an offer past its deadline goes back to waiting, as a reject would; the
     agent's run of missed offers grows, and at ARGV[4] in a row the agent is set away.

  KEYS[1] request hash      KEYS[2] queue sorted set   KEYS[3] agent hash
  KEYS[4] agent holds hash  KEYS[5] offers sorted set  KEYS[6] request's excluded agents
  KEYS[7] events stream

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] queue name
  ARGV[4] missed offers in a row that set the agent away (0: never)   ARGV[5] stream max length

  A presence event carries previous and previous_ms as set_presence's does.

  Returns 1, or 2 when the agent was set away; -1 no such request, -2 not offered,
  -6 offered to someone else, -9 queue moved, -11 the deadline has not passed.
]]
--- @include "common"
--- @include "give_back"

local r = check_offer(KEYS[1], ARGV[2], ARGV[3])
if type(r) == 'number' then return r end
if tonumber(r[5]) > now_ms() then return -11 end
give_back(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2], r[4])
emit(KEYS[7], ARGV[5], 'expired', ARGV[1], ARGV[2], ARGV[3])
local missed = redis.call('HINCRBY', KEYS[3], 'missed', 1)
local limit = tonumber(ARGV[4])
if limit > 0 and missed >= limit and redis.call('HGET', KEYS[3], 'presence') == 'available' then
  local was = presence_to(KEYS[3], 'away', now_ms())
  redis.call('HSET', KEYS[3], 'away_reason', 'missed offers')
  emit(KEYS[7], ARGV[5], 'presence', '', ARGV[2], '',
    {'presence', 'away', 'reason', 'missed ' .. missed .. ' offers in a row', unpack(was)})
  return 2
end
return 1
