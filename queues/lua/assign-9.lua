--[[ assign: a waiting request goes straight to an agent, with no offer to accept
     (typical for email).

  KEYS[1] request hash      KEYS[2] queue sorted set   KEYS[3] agent hash
  KEYS[4] agent holds hash  KEYS[5] request's excluded agents   KEYS[6] events stream
  KEYS[7] SLA due instants   KEYS[8] calendars' working spans   KEYS[9] SLA counters

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] queue name   ARGV[4] stream max length
  ARGV[5] explanation (JSON, may be empty)
  ARGV[6] '1': a supervisor's forced assignment (presence, wrap-up and exclusion waived; never
          the capacity)

  The event carries `why` and what the reports read: channel, category, wait_ms, first ('1':
  the first agent ever to take it) and first_response_ms (when taking it is that).

  Returns 1, or -1 no such request, -2 not waiting, -9 queue moved, -4 unknown agent,
  -5 agent not available (or in wrap-up), -7 agent excluded, -3 no capacity on the channel.
]]
--- @include "common"
--- @include "take"
--- @include "clocks"

local channel = check_take(KEYS[1], KEYS[3], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[6] == '1')
if type(channel) == 'number' then return channel end
take(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], channel, 'assigned', ARGV[5])
local fields = took(KEYS[1], ARGV[2])
table.insert(fields, 1, ARGV[5])
table.insert(fields, 1, 'why')
emit(KEYS[6], ARGV[4], 'assigned', ARGV[1], ARGV[2], ARGV[3], fields)
sla_context(KEYS[7], KEYS[8], KEYS[9], KEYS[6], ARGV[4])
agent_took(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
return 1
