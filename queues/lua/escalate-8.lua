--[[ escalate: an open request goes up one support tier (L1 -> L2 -> L3) and waits in that
     tier's queue, keeping its age; an agent holding it gets the capacity back.

  KEYS[1] request hash      KEYS[2] current queue      KEYS[3] next tier's queue
  KEYS[4] holder's agent hash (placeholder if none)    KEYS[5] holder's holds hash
  KEYS[6] offers sorted set KEYS[7] events stream      KEYS[8] set of queue names

  ARGV[1] request id   ARGV[2] current holder ('' if none)   ARGV[3] current queue name
  ARGV[4] next tier's queue name   ARGV[5] note   ARGV[6] stream max length
  ARGV[7] highest tier   ARGV[8] the holder required (an agent's own token; '' for any)
  ARGV[9] the reason code (escalation.reasons; '' none)
  ARGV[2] and ARGV[3] are what the caller last saw (a cache; '' queue when it knows nothing).

  The event carries from, tier (the new one), note, reason_code, and channel and category for
  the reports.

  Returns the record after the change (HGETALL, its tier the new one); or -1 no such request,
  -15 not held by the required agent, -2 completed or abandoned, -8 already at the highest
  tier, or {-9, queue, holder} when ARGV[2..3] are not the request's: nothing changed, call
  again with those (and the next tier's queue of that queue).
]]
--- @include "common"
--- @include "holder"
--- @include "move"
--- @include "facts"

local state, channel = check_move(KEYS[1], ARGV[3], ARGV[2], ARGV[8] or '')
if type(state) ~= 'string' then return state end
local tier = tonumber(redis.call('HGET', KEYS[1], 'tier'))
if tier >= tonumber(ARGV[7]) then return -8 end
move(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[8], ARGV[1], state, channel,
  ARGV[4])
redis.call('HSET', KEYS[1], 'tier', tier + 1)
emit(KEYS[7], ARGV[6], 'escalated', ARGV[1], ARGV[2], ARGV[4],
  {'from', ARGV[3], 'tier', tier + 1, 'note', ARGV[5], 'reason_code', ARGV[9] or '',
   'channel', channel,
   'category', redis.call('HGET', KEYS[1], 'category') or ''})
return redis.call('HGETALL', KEYS[1])
