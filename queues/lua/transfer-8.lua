--[[ transfer: an open request moves to another queue, keeping its age; an agent holding it
     gets the capacity back.

  KEYS[1] request hash      KEYS[2] current queue      KEYS[3] target queue
  KEYS[4] holder's agent hash (placeholder if none)    KEYS[5] holder's holds hash
  KEYS[6] offers sorted set KEYS[7] events stream      KEYS[8] set of queue names

  ARGV[1] request id   ARGV[2] current holder ('' if none)   ARGV[3] current queue name
  ARGV[4] target queue name   ARGV[5] reason   ARGV[6] stream max length
  ARGV[7] the holder required (an agent's own token; '' for any)
  ARGV[8] origin ('' or absent: frontdesk; 'helpdesk:<name>': that helpdesk's webhook)
  ARGV[2] and ARGV[3] are what the caller last saw (a cache; '' queue when it knows nothing).

  The event carries from, reason, and channel and category for the reports.

  Returns the record after the change (HGETALL); or -1 no such request, -15 not held by the
  required agent, -2 completed or abandoned, or {-9, queue, holder} when ARGV[2..3] are not
  the request's: nothing changed, call again with those (and a target that follows from them).
]]
--- @include "common"
--- @include "holder"
--- @include "move"
--- @include "facts"

local state, channel = check_move(KEYS[1], ARGV[3], ARGV[2], ARGV[7] or '')
if type(state) ~= 'string' then return state end
move(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[8], ARGV[1], state, channel,
  ARGV[4])
local fields = {'from', ARGV[3], 'reason', ARGV[5], 'channel', channel,
  'category', redis.call('HGET', KEYS[1], 'category') or ''}
if ARGV[8] and ARGV[8] ~= '' then fields[#fields + 1] = 'origin'; fields[#fields + 1] = ARGV[8] end
emit(KEYS[7], ARGV[6], 'transferred', ARGV[1], ARGV[2], ARGV[4], fields)
return redis.call('HGETALL', KEYS[1])
