--[[ set_presence: an agent becomes available, away (with a reason) or offline.
     Becoming available clears the run of missed offers and starts the idle clock.

  KEYS[1] agent hash   KEYS[2] events stream

  ARGV[1] agent id   ARGV[2] presence   ARGV[3] reason   ARGV[4] stream max length

  The event carries presence, reason, and previous and previous_ms (how long the previous
  presence lasted; '' unknown) for the reports.

  Returns the previous presence, or -4 unknown agent.
]]
--- @include "common"

local previous = redis.call('HGET', KEYS[1], 'presence')
if not previous then return -4 end
local was = presence_to(KEYS[1], ARGV[2], now_ms())
redis.call('HSET', KEYS[1], 'away_reason', ARGV[3])
if ARGV[2] == 'available' and previous ~= 'available' then
  redis.call('HSET', KEYS[1], 'missed', 0, 'available_since_ms', string.format('%.0f', now_ms()))
end
emit(KEYS[2], ARGV[4], 'presence', '', ARGV[1], '',
  {'presence', ARGV[2], 'reason', ARGV[3], unpack(was)})
return previous
