--[[ create_customer: a new customer, reached from now on by each of its addresses; if another
     process gave one of those addresses to a customer meanwhile, that customer's id instead.

  KEYS[1] customer hash   KEYS[2] customer's addresses (set)   KEYS[3] events stream
  KEYS[4..] address keys (one per ARGV[4..])

  ARGV[1] customer id   ARGV[2] name ('' if unknown)   ARGV[3] stream max length
  ARGV[4..] addresses, each kind:value

  Returns the customer id: ARGV[1] when created, another id when an address was taken.
]]
--- @include "common"

for i = 4, #KEYS do
  local owner = redis.call('GET', KEYS[i])
  if owner then return owner end
end
for i = 4, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1])
  redis.call('SADD', KEYS[2], ARGV[i])
end
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'created_ms', string.format('%.0f', now_ms()))
emit(KEYS[3], ARGV[3], 'customer_created', '', '', '', {'customer', ARGV[1]})
return ARGV[1]
