--[[ upsert_agent: create an agent or change its profile; its load is never touched, and a
     capacity below what it holds now is refused.

  KEYS[1] agent hash   KEYS[2] set of agent ids   KEYS[3] events stream

  ARGV[1] agent id   ARGV[2] name   ARGV[3] tier   ARGV[4] groups (JSON)   ARGV[5] skills (JSON)
  ARGV[6] presence for a new agent ('' keeps an existing agent's presence)
  ARGV[7] stream max length
  ARGV[8..] channel, capacity, channel, capacity, ...

  Returns 1 created, 0 updated; -12 (followed by the channel) when a capacity is below the
  agent's load on that channel.
]]
--- @include "common"

local caps = {}
for i = 8, #ARGV, 2 do caps[ARGV[i]] = tonumber(ARGV[i + 1]) end
local current = redis.call('HGETALL', KEYS[1])
local exists = #current > 0
for i = 1, #current, 2 do
  local channel = string.match(current[i], '^load:(.+)$')
  if channel and tonumber(current[i + 1]) > (caps[channel] or 0) then
    return {-12, channel}
  end
end
for i = 1, #current, 2 do
  local channel = string.match(current[i], '^cap:(.+)$')
  if channel and not caps[channel] then redis.call('HDEL', KEYS[1], current[i]) end
end
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'tier', ARGV[3], 'groups', ARGV[4],
  'skills', ARGV[5])
for channel, cap in pairs(caps) do
  redis.call('HSET', KEYS[1], 'cap:' .. channel, cap)
end
if not exists then
  local now = string.format('%.0f', now_ms())
  redis.call('HSET', KEYS[1], 'presence', ARGV[6] ~= '' and ARGV[6] or 'offline', 'missed', 0,
    'available_since_ms', now, 'presence_ms', now)
end
redis.call('SADD', KEYS[2], ARGV[1])
emit(KEYS[3], ARGV[7], exists and 'agent_updated' or 'agent_created', '', ARGV[1], '')
if exists then return 0 end
return 1
