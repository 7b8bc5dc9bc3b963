--[[ append_message: a follow-up joins an open request; the same external message twice is
     appended once.

  KEYS[1] idempotency key (channel:external id), or the placeholder when ARGV[5] is '0'
  KEYS[2] request hash
  KEYS[3] messages list
  KEYS[4] events stream
  KEYS[5] SLA due instants   KEYS[6] calendars' working spans   KEYS[7] SLA counters

  ARGV[1] request id        ARGV[2] msgpack message   ARGV[3] idempotency TTL in seconds
  ARGV[4] stream max length ARGV[5] '1' when KEYS[1] is a real idempotency key
  ARGV[6] author (customer, agent, system)

  An agent's message meets the request's first and next response; a customer's ends a wait on
  the customer (pending_customer: assigned again, clocks running) and starts the next response.

  The event carries author; the first agent message of a request also first_response_ms
  (since it was enqueued), channel and category, for the reports.

  Returns the request's message count after the append, 0 for a duplicate,
  -1 no such request, -2 the request is completed or abandoned.
]]
--- @include "common"
--- @include "clocks"

if ARGV[5] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local r = redis.call('HMGET', KEYS[2], 'state', 'queue', 'agent')
if not r[1] then return -1 end
if r[1] == 'completed' or r[1] == 'abandoned' then return -2 end
if ARGV[5] == '1' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) end
redis.call('RPUSH', KEYS[3], ARGV[2])
local n = redis.call('HINCRBY', KEYS[2], 'messages', 1)
local fields = {'author', ARGV[6]}
if ARGV[6] == 'agent' then
  local fr = first_reply(KEYS[2], now_ms())
  if fr then
    local f = redis.call('HMGET', KEYS[2], 'channel', 'category')
    fields = {'author', ARGV[6], 'first_response_ms', fr, 'channel', f[1] or '',
      'category', f[2] or ''}
  end
end
emit(KEYS[4], ARGV[4], 'message', ARGV[1], r[3], r[2], fields)
sla_context(KEYS[5], KEYS[6], KEYS[7], KEYS[4], ARGV[4])
if ARGV[6] == 'customer' then
  customer_spoke(KEYS[2], ARGV[1], r[1], r[3], r[2], ARGV[4])
elseif ARGV[6] == 'agent' then
  agent_spoke(KEYS[2], ARGV[1], r[3], r[2])
end
return n
