--[[ accept: the agent takes the request offered to it, before the deadline; the answer is all
     the agent's screen shows of it, so that accepting costs no further reads: the record after
     the change, its thread, the customer's addresses and the ids of the customer's newest
     requests (whose records the caller reads in one pipelined round trip).

  KEYS[1] request hash   KEYS[2] offers sorted set   KEYS[3] agent hash   KEYS[4] events stream
  KEYS[5] request's messages
  KEYS[6] the request's customer's hash       KEYS[7] that customer's addresses
  KEYS[8] the requests (sorted set) of the customer it was merged into (itself if none)
  KEYS[9] the hash of that customer: KEYS[6..9] are placeholders when ARGV[4] is '0'
  KEYS[10] SLA due instants   KEYS[11] calendars' working spans   KEYS[12] SLA counters

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] stream max length
  ARGV[4] '1' when KEYS[6..9] are a customer's   ARGV[5] how many of its newest requests

  Accepting a request the agent already holds (assigned to it: an assign-mode queue's, or an
  accept retried after its answer was lost) changes nothing and emits nothing: it answers as
  the first accept did.

  A policy that counts taking the request as the first response (a callback) has it met.
  The event carries what the reports read: channel, category, wait_ms, first ('1': the
  first agent ever to take the request) and first_response_ms (when taking it is that).

  Returns {record (HGETALL), messages, {customer known 1|0, addresses...}, newest request ids,
  what KEYS[9]'s customer was merged into since ('' when not: the ids are the right ones)};
  or -1 no such request, -2 not offered (nor held by the agent), -6 offered to someone else, -10 the deadline has passed.
]]
--- @include "common"
--- @include "clocks"

local r = redis.call('HMGET', KEYS[1], 'state', 'agent', 'deadline', 'queue')
if not r[1] then return -1 end
local held = r[1] == 'assigned' and r[2] == ARGV[2]
if r[1] ~= 'offered' and not held then return -2 end
if r[2] ~= ARGV[2] then return -6 end
if not held then
  if tonumber(r[3]) < now_ms() then return -10 end
  redis.call('HSET', KEYS[1], 'state', 'assigned')
  redis.call('HDEL', KEYS[1], 'deadline')
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[3], 'missed', 0)
  emit(KEYS[4], ARGV[3], 'accepted', ARGV[1], ARGV[2], r[4], took(KEYS[1], ARGV[2]))
  sla_context(KEYS[10], KEYS[11], KEYS[12], KEYS[4], ARGV[3])
  agent_took(KEYS[1], ARGV[1], ARGV[2], r[4])
end
local customer, newest, merged = {0}, {}, ''
if ARGV[4] == '1' then
  customer = {redis.call('EXISTS', KEYS[6])}
  for _, a in ipairs(redis.call('SMEMBERS', KEYS[7])) do customer[#customer + 1] = a end
  newest = redis.call('ZREVRANGE', KEYS[8], 0, tonumber(ARGV[5]) - 1)
  merged = redis.call('HGET', KEYS[9], 'merged_into') or ''
end
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[5], 0, -1), customer, newest,
  merged}
