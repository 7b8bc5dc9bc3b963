--[[ complete: the agent finished the request; its capacity on that channel returns, and with a
     wrap-up time the agent takes no new work until the wrap-up ends.

  KEYS[1] request hash   KEYS[2] agent hash   KEYS[3] agent holds hash   KEYS[4] events stream
  KEYS[5] request's messages   KEYS[6] request's excluded agents
  KEYS[7] SLA due instants   KEYS[8] calendars' working spans   KEYS[9] SLA counters
  KEYS[10] last agents (hash: '<customer>|<queue>' -> '<agent>|<ms>', for sticky routing)

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] resolution code   ARGV[4] stream max length
  ARGV[5] wrap-up in ms (0: none)   ARGV[6] how long the closed request is kept: '<normal ms>/<important ms>' (0: always)
  ARGV[7] '1' when only the request's holder may complete it (an agent's own token)
  ARGV[8] the agent's summary for the customer ('' none; shown in the completed notice)
  ARGV[9] origin ('' or absent: frontdesk itself; 'helpdesk:<name>': that helpdesk's webhook,
          whose connector then does not write the completion back)

  Completing meets the request's resolution and any response still due; other clocks stop.
  A request pending on the customer may be completed too. The event carries what the
  reports read: channel, category, resolution_ms (since it was enqueued), handle_ms (since
  the agent took it), fcr ('1': completed by the first agent who took it, never transferred
  nor escalated nor reopened), tier and the agent's summary (for the completed notice).

  Returns the record after the change (HGETALL); or -1 no such request, -15 not held by the
  agent (with ARGV[7]), -2 not assigned (nor pending), -6 assigned to someone else.
]]
--- @include "common"
--- @include "facts"
--- @include "clocks"

local held = check_required(KEYS[1], ARGV[2], ARGV[7] or '0')
if type(held) == 'number' then return held end
local r = redis.call('HMGET', KEYS[1], 'state', 'agent', 'queue', 'channel')
if r[1] ~= 'assigned' and r[1] ~= 'pending_customer' then return -2 end
if r[2] ~= ARGV[2] then return -6 end
release(KEYS[2], KEYS[3], ARGV[1], r[4])
local wrap = tonumber(ARGV[5] or '0')
if wrap > 0 then
  redis.call('HSET', KEYS[2], 'wrap_until_ms', string.format('%.0f', now_ms() + wrap))
end
redis.call('HSET', KEYS[1], 'state', 'completed', 'resolution', ARGV[3],
  'closed_ms', string.format('%.0f', now_ms()))
if (ARGV[8] or '') ~= '' then
  redis.call('HSET', KEYS[1], 'summary', ARGV[8])
else
  redis.call('HDEL', KEYS[1], 'summary')
end
redis.call('HDEL', KEYS[1], 'pending_ms')
sla_context(KEYS[7], KEYS[8], KEYS[9], KEYS[4], ARGV[4])
sla_close(KEYS[1], ARGV[1], ARGV[2], r[3], true)
keep_for(ARGV[6], KEYS[1], KEYS[5], KEYS[6])
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'category', 'enqueued_ms', 'taken_ms', 'first_agent',
  'moves', 'tier', 'reopens')
local function ago(ms) return ms and string.format('%.0f', now - tonumber(ms)) or '' end
local customer = redis.call('HGET', KEYS[1], 'customer')
if customer then
  redis.call('HSET', KEYS[10], customer .. '|' .. r[3], ARGV[2] .. '|' .. string.format('%.0f', now))
end
local fcr = (f[4] == ARGV[2] and not f[5] and not f[7]) and '1' or '0'
redis.call('HSET', KEYS[1], 'fcr', fcr)  -- kept, so that a later reopen can take it back
local fields = {'resolution', ARGV[3], 'wrap_up_ms', ARGV[5] or '0', 'channel', r[4],
   'category', f[1] or '',
   'resolution_ms', ago(f[2]), 'handle_ms', ago(f[3]),
   'fcr', fcr, 'tier', f[6] or '1', 'summary', ARGV[8] or ''}
if ARGV[9] and ARGV[9] ~= '' then fields[#fields + 1] = 'origin'; fields[#fields + 1] = ARGV[9] end
emit(KEYS[4], ARGV[4], 'completed', ARGV[1], ARGV[2], r[3], fields)
return redis.call('HGETALL', KEYS[1])
