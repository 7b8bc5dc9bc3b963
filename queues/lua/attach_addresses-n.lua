--[[ attach_addresses: addresses not yet known lead to this customer from now on; an address that
     already belongs to another customer is left alone (linking two customers is explicit).

  KEYS[1] customer hash   KEYS[2] customer's addresses (set)   KEYS[3] events stream
  KEYS[4..] address keys (one per ARGV[4..])

  ARGV[1] customer id   ARGV[2] name (kept if the customer has none yet)
  ARGV[3] stream max length   ARGV[4..] addresses, each kind:value

  Returns the number of addresses attached; -1 no such customer.
]]
--- @include "common"

if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local attached = 0
for i = 4, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX') then
    redis.call('SADD', KEYS[2], ARGV[i])
    attached = attached + 1
  end
end
if ARGV[2] ~= '' and (redis.call('HGET', KEYS[1], 'name') or '') == '' then
  redis.call('HSET', KEYS[1], 'name', ARGV[2])
end
if attached > 0 then
  emit(KEYS[3], ARGV[3], 'customer_updated', '', '', '', {'customer', ARGV[1]})
end
return attached
