--[[ offer: a waiting request is offered to one agent until a deadline.

  KEYS[1] request hash      KEYS[2] queue sorted set   KEYS[3] agent hash
  KEYS[4] agent holds hash  KEYS[5] offers sorted set  KEYS[6] request's excluded agents
  KEYS[7] events stream

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] queue name   ARGV[4] timeout in ms
  ARGV[5] stream max length   ARGV[6] explanation (JSON, may be empty)

  Returns the deadline (ms), or -1 no such request, -2 not waiting, -9 queue moved,
  -4 unknown agent, -5 agent not available (or in wrap-up), -7 agent excluded, -3 no capacity on
  the channel.
]]
--- @include "common"
--- @include "take"

local channel = check_take(KEYS[1], KEYS[3], KEYS[6], ARGV[1], ARGV[2], ARGV[3], false)
if type(channel) == 'number' then return channel end
take(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], channel, 'offered', ARGV[6])
local deadline = now_ms() + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'deadline', string.format('%.0f', deadline))
redis.call('ZADD', KEYS[5], deadline, ARGV[1])
emit(KEYS[7], ARGV[5], 'offered', ARGV[1], ARGV[2], ARGV[3],
  {'deadline', string.format('%.0f', deadline), 'why', ARGV[6]})
return deadline
