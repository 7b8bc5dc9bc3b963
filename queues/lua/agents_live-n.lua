--[[ agents_live (read only): the fields that change between decision rounds, for many agents
     in one call, so that a round over a thousand agents costs one round trip.

  KEYS[1..n] agent hashes

  ARGV[1..m] field names (e.g. presence, last_taken_ms, available_since_ms, missed, load:chat)

  Returns a flat list of n * m values, agent by agent; a missing field (or agent) is ''.
]]

local out = {}
for _, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, unpack(ARGV))
  for j = 1, #ARGV do out[#out + 1] = values[j] or '' end
end
return out
