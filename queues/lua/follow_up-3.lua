--[[ follow_up: the outcome of a follow-up call, recorded once on the follow-up and on the
     request it followed up (when that is still kept).

  KEYS[1] the follow-up's hash   KEYS[2] events stream   KEYS[3] the original request's hash

  ARGV[1] follow-up id   ARGV[2] agent id   ARGV[3] '1' reached / '0' not reached
  ARGV[4] verdict (satisfied, unsatisfied, none)   ARGV[5] note   ARGV[6] stream max length
  ARGV[7] '1' when only the follow-up's holder may record it (an agent's own token)
  ARGV[8] the original request's id

  Returns {'ok'}; or -1 no such request, -15 not held by the agent, -2 not assigned (nor
  pending, nor completed), -20 recorded before.
]]
--- @include "common"
--- @include "facts"

local held = check_required(KEYS[1], ARGV[2], ARGV[7])
if type(held) == 'number' then return held end
local r = redis.call('HMGET', KEYS[1], 'state', 'agent', 'queue', 'follow_up_outcome')
if r[1] ~= 'assigned' and r[1] ~= 'pending_customer' and r[1] ~= 'completed' then return -2 end
if r[4] then return -20 end
local outcome = cjson.encode({reached = ARGV[3] == '1', verdict = ARGV[4], note = ARGV[5],
  agent = ARGV[2], of = ARGV[8], at = math.floor(now_ms())})
redis.call('HSET', KEYS[1], 'follow_up_outcome', outcome)
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'follow_up_outcome', outcome)
end
emit(KEYS[2], ARGV[6], 'follow_up.recorded', ARGV[1], ARGV[2], r[3],
  {'of', ARGV[8], 'reached', ARGV[3], 'verdict', ARGV[4], 'note', ARGV[5]})
return {'ok'}
