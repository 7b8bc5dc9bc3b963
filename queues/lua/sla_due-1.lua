--[[ sla_due (reads only): what the SLA timer should fire now, by the Redis clock.

  KEYS[1] SLA due instants (sorted set)

  ARGV[1] how many due members at most

  Returns {now ms, {member, instant, member, instant, ...} due at or before now, the instant of
  the first member still to come ('' none)}.
]]
--- @include "common"

local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, ARGV[1])
local next_one = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES',
  'LIMIT', 0, 1)
return {string.format('%.0f', now), due, next_one[2] or ''}
