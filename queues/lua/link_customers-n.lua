--[[ link_customers: one person used two channels; the second customer's addresses and requests
     move to the first, and the second records that it was merged.

  KEYS[1] into: customer hash   KEYS[2] into: addresses   KEYS[3] into: requests
  KEYS[4] from: customer hash   KEYS[5] from: addresses   KEYS[6] from: requests
  KEYS[7] events stream         KEYS[8..] from's address keys (one per ARGV[4..])

  ARGV[1] into id   ARGV[2] from id   ARGV[3] stream max length   ARGV[4..] from's addresses

  Returns 1; -1 either customer unknown, -2 from was merged already, -9 from's addresses changed
  since the caller read them (read again).
]]
--- @include "common"

if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[4]) == 0 then return -1 end
if redis.call('HGET', KEYS[4], 'merged_into') then return -2 end
if redis.call('SCARD', KEYS[5]) ~= #KEYS - 7 then return -9 end
for i = 8, #KEYS do
  if redis.call('SISMEMBER', KEYS[5], ARGV[i - 4]) == 0 then return -9 end
  redis.call('SET', KEYS[i], ARGV[1])
  redis.call('SADD', KEYS[2], ARGV[i - 4])
end
redis.call('ZUNIONSTORE', KEYS[3], 2, KEYS[3], KEYS[6], 'AGGREGATE', 'MIN')
redis.call('DEL', KEYS[5], KEYS[6])
redis.call('HSET', KEYS[4], 'merged_into', ARGV[1])
emit(KEYS[7], ARGV[3], 'customer_linked', '', '', '', {'customer', ARGV[1], 'from', ARGV[2]})
return 1
