--[[ import_customer: one row of a customer directory, all or nothing: the customer (made with
     the pre-allocated id, or the one the caller found by the row's addresses) gets the row's
     name and every address (its external id among them, as ext:<id>), and is put by its id on
     the row's care lists. An address that leads to another customer refuses the whole row.
     Importing the same row again changes nothing and appends no event.

  KEYS[1] the customer's hash   KEYS[2] its addresses (set)   KEYS[3] events stream
  KEYS[4..] then, in this order: nl care lists the row names (hash: entry key -> JSON {e, u,
    s, r, at}); the address keys (one per address in ARGV)

  ARGV[1] customer id   ARGV[2] 'new' (make it) or 'found' (it must exist, not merged)
  ARGV[3] name ('' keeps the name it has)   ARGV[4] stream max length   ARGV[5] nl   ARGV[6] na
  then nl list names, then na addresses (kind:value)

  Returns {'created' | 'updated' | 'unchanged', customer id}; {'conflict', address, owner} when
  an address belongs to another customer (nothing written); {'stale', ''} when the customer is
  not as the caller saw it (made meanwhile, or merged: look again).
]]
--- @include "common"

local id, mode, name, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local nl, na = tonumber(ARGV[5]), tonumber(ARGV[6])
local al, aa, ka = 7, 7 + nl, 4 + nl
local exists = redis.call('EXISTS', KEYS[1]) == 1
if mode == 'new' and exists then return {'stale', ''} end
if mode == 'found' and (not exists or redis.call('HGET', KEYS[1], 'merged_into')) then
  return {'stale', ''}
end
for i = 1, na do
  local owner = redis.call('GET', KEYS[ka + i - 1])
  if owner and owner ~= id then
    if mode == 'new' then return {'stale', ''} end  -- someone has it now: look again
    return {'conflict', ARGV[aa + i - 1], owner}
  end
end

local changed = false
local now = math.floor(now_ms())
if mode == 'new' then
  redis.call('HSET', KEYS[1], 'name', name, 'created_ms', tostring(now), 'source', 'import')
elseif name ~= '' and redis.call('HGET', KEYS[1], 'name') ~= name then
  redis.call('HSET', KEYS[1], 'name', name)
  changed = true
end
for i = 1, na do
  if redis.call('SET', KEYS[ka + i - 1], id, 'NX') then
    redis.call('SADD', KEYS[2], ARGV[aa + i - 1])
    changed = true
  end
end
for l = 1, nl do
  local list, listed = KEYS[3 + l], ARGV[al + l - 1]
  local raw = redis.call('HGET', list, 'id:' .. id)
  local doc = raw and cjson.decode(raw)
  if not doc or (tonumber(doc.u) or 0) ~= 0 then  -- on it for ever from now on
    redis.call('HSET', list, 'id:' .. id, cjson.encode({e = id, u = 0, s = 'import', r = '',
      at = now}))
    emit(KEYS[3], maxlen, 'customer.listed', '', '', '', {'list', listed, 'key', 'id:' .. id,
      'entry', id, 'until_ms', '0', 'source', 'import', 'reason', ''})
    changed = true
  end
end
if mode == 'new' then
  emit(KEYS[3], maxlen, 'customer_created', '', '', '', {'customer', id, 'source', 'import'})
  return {'created', id}
end
if changed then
  emit(KEYS[3], maxlen, 'customer_updated', '', '', '', {'customer', id, 'source', 'import'})
  return {'updated', id}
end
return {'unchanged', id}
