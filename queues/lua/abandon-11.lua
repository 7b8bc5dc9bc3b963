--[[ abandon: an open request ends without being handled (the customer left or cancelled, or it
     timed out); an agent holding it gets the capacity back.

  KEYS[1] request hash   KEYS[2] its queue   KEYS[3] holder's agent hash (placeholder if none)
  KEYS[4] holder's holds hash   KEYS[5] offers sorted set   KEYS[6] events stream
  KEYS[7] request's messages   KEYS[8] request's excluded agents
  KEYS[9] SLA due instants   KEYS[10] calendars' working spans   KEYS[11] SLA counters

  ARGV[1] request id   ARGV[2] current holder ('' if none)   ARGV[3] queue name   ARGV[4] reason
  ARGV[5] stream max length   ARGV[6] how long the closed request is kept: '<normal ms>/<important ms>' (0: always)

  The request's clocks stop. A request pending on the customer may be abandoned too. The
  event carries reason, and for the reports channel, category, wait_ms (since it was
  enqueued), state (the one it left) and taken ('1': an agent had taken it).

  Returns 1, or -1 no such request, -2 already completed or abandoned, -9 queue or holder moved.
]]
--- @include "common"
--- @include "holder"
--- @include "clocks"

local state, channel = check_holder(KEYS[1], ARGV[3], ARGV[2], true)
if type(state) == 'number' then return state end
local _, category, waited = report_facts(KEYS[1], now_ms())
local taken = redis.call('HEXISTS', KEYS[1], 'first_agent')
detach(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], state, channel)
redis.call('HSET', KEYS[1], 'state', 'abandoned', 'resolution', ARGV[4],
  'closed_ms', string.format('%.0f', now_ms()))
redis.call('HDEL', KEYS[1], 'agent', 'deadline')
redis.call('HDEL', KEYS[1], 'pending_ms')
sla_context(KEYS[9], KEYS[10], KEYS[11], KEYS[6], ARGV[5])
sla_close(KEYS[1], ARGV[1], ARGV[2], ARGV[3], false)
keep_for(ARGV[6], KEYS[1], KEYS[7], KEYS[8])
emit(KEYS[6], ARGV[5], 'abandoned', ARGV[1], ARGV[2], ARGV[3],
  {'reason', ARGV[4], 'channel', channel, 'category', category, 'wait_ms', waited,
   'state', state, 'taken', tostring(taken)})
return 1
