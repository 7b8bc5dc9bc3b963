--[[ prune_orphans: drop from the orphans sorted set the requests that are no longer flagged
     work (completed, moved, taken over, or requeued since), so the supervisors' list stays true.

  KEYS[1] orphans sorted set   KEYS[2..n] the listed requests' hashes

  ARGV[1..n-1] the listed request ids, in the order of KEYS[2..n]

  Returns the number dropped.
]]

local dropped = 0
for i = 1, #ARGV do
  local r = redis.call('HMGET', KEYS[i + 1], 'state', 'agent', 'flagged')
  if r[1] ~= 'assigned' or not r[3] or string.sub(r[3], 1, #r[2] + 1) ~= r[2] .. ':' then
    dropped = dropped + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return dropped
