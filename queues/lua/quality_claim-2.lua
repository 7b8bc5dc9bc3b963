--[[ quality_claim: a daemon claims the drawing of a day's quality sample, for a lease.

  KEYS[1] quality days hash   KEYS[2] the day's claim

  ARGV[1] day   ARGV[2] the claimant's token   ARGV[3] lease in ms

  Returns 1 claimed (or still held by this claimant), 0 the day is sampled already, -1 another
  claimant holds the lease.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return -1
