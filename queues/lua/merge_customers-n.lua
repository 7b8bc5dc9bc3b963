--[[ merge_customers: one person, two customers: the second's addresses and requests (its whole
     history) move to the first, the second records that it was merged into the first, and the
     care lists follow: when either customer (by id or by a trusted address) is on a list and
     the first is not on it by id, the first is put on it by id with the same until.

  KEYS[1] into: customer hash   KEYS[2] into: addresses   KEYS[3] into: requests
  KEYS[4] from: customer hash   KEYS[5] from: addresses   KEYS[6] from: requests
  KEYS[7] events stream   KEYS[8] last agents (hash: '<customer>|<queue>' -> '<agent>|<ms>')
  KEYS[9..] then, in this order: nl care lists (hash: entry key -> JSON {e, u, s, r, at}),
    named in ARGV; from's address keys (one per from address in ARGV); nr request hashes
    (from's newest requests, named in ARGV)

  ARGV[1] into id   ARGV[2] from id   ARGV[3] stream max length   ARGV[4] nl   ARGV[5] nf
  ARGV[6] ni   ARGV[7] nr   ARGV[8] nqueues   then nl list names, nf from's addresses
  (kind:value), ni into's addresses, nr request ids, nqueues queue names

  Sticky routing follows too: from's last agent in a queue becomes into's when it is the
  newer, and from's requests still kept record into as their customer (whose last agent
  their completion records).

  A claimed address of from (claimed:kind:value) is dropped, not moved: the next one to type
  it starts afresh rather than in the merged customer's history.

  Returns the number of addresses moved; -1 either customer unknown, -2 from was merged already (or into was: merge into
  the customer it was merged into), -9 from's addresses changed since the caller read them
  (read again).
]]
--- @include "common"

local into, from, maxlen = ARGV[1], ARGV[2], ARGV[3]
local nl, nf, ni = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local nr, nqueues = tonumber(ARGV[7]), tonumber(ARGV[8])
local al, af, ai = 9, 9 + nl, 9 + nl + nf
local ar = ai + ni
local aqueue = ar + nr
local ka = 9 + nl
local kr = ka + nf
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[4]) == 0 then return -1 end
if redis.call('HGET', KEYS[4], 'merged_into') or redis.call('HGET', KEYS[1], 'merged_into') then
  return -2
end
if redis.call('SCARD', KEYS[5]) ~= nf then return -9 end
for i = 1, nf do
  if redis.call('SISMEMBER', KEYS[5], ARGV[af + i - 1]) == 0 then return -9 end
end

-- the care lists: what either customer is on follows the merged customer (by its id)
local function care_key(address)
  if string.sub(address, 1, 8) == 'claimed:' then return nil end  -- never raises priority
  return address
end
local now = math.floor(now_ms())
for l = 1, nl do
  local list, name = KEYS[8 + l], ARGV[al + l - 1]
  if redis.call('HEXISTS', list, 'id:' .. into) == 0 then
    local candidates = {'id:' .. from}
    for i = 1, nf do candidates[#candidates + 1] = care_key(ARGV[af + i - 1]) end
    for i = 1, ni do candidates[#candidates + 1] = care_key(ARGV[ai + i - 1]) end
    local best
    for _, key in ipairs(candidates) do
      local raw = key and redis.call('HGET', list, key)
      if raw then
        local doc = cjson.decode(raw)
        local u = tonumber(doc.u) or 0
        if (u == 0 or u > now) and (not best or best.u ~= 0 and (u == 0 or u > best.u)) then
          best = {u = u, e = doc.e}
        end
      end
    end
    if best then
      local reason = 'merged from ' .. from .. ' (' .. tostring(best.e) .. ')'
      redis.call('HSET', list, 'id:' .. into, cjson.encode({
        e = into, u = best.u, s = 'merge', r = reason, at = now}))
      emit(KEYS[7], maxlen, 'customer.listed', '', '', '',
        {'list', name, 'key', 'id:' .. into, 'entry', into, 'until_ms', tostring(best.u),
         'source', 'merge', 'reason', reason})
    end
  end
end

local trusted = 0
for i = 1, nf do
  if care_key(ARGV[af + i - 1]) then
    redis.call('SET', KEYS[ka + i - 1], into)
    redis.call('SADD', KEYS[2], ARGV[af + i - 1])
    trusted = trusted + 1
  elseif redis.call('GET', KEYS[ka + i - 1]) == from then
    -- a claimed address does not follow: whoever types it next is no one's history
    redis.call('DEL', KEYS[ka + i - 1])
  end
end
for i = 1, nr do
  if redis.call('HGET', KEYS[kr + i - 1], 'customer') == from then
    redis.call('HSET', KEYS[kr + i - 1], 'customer', into)
  end
end
local function at_ms(value)
  return value and tonumber(string.match(value, '|(%d+)$')) or -1
end
for i = 1, nqueues do
  local queue = ARGV[aqueue + i - 1]
  local theirs = redis.call('HGET', KEYS[8], from .. '|' .. queue)
  if theirs then
    local ours = redis.call('HGET', KEYS[8], into .. '|' .. queue)
    if at_ms(theirs) > at_ms(ours) then redis.call('HSET', KEYS[8], into .. '|' .. queue, theirs) end
    redis.call('HDEL', KEYS[8], from .. '|' .. queue)
  end
end
local moved = redis.call('ZCARD', KEYS[6])
redis.call('ZUNIONSTORE', KEYS[3], 2, KEYS[3], KEYS[6], 'AGGREGATE', 'MIN')
redis.call('DEL', KEYS[5], KEYS[6])
if (redis.call('HGET', KEYS[1], 'name') or '') == '' then
  local name = redis.call('HGET', KEYS[4], 'name')
  if name and name ~= '' then redis.call('HSET', KEYS[1], 'name', name) end
end
redis.call('HSET', KEYS[4], 'merged_into', into, 'merged_ms', tostring(now))
emit(KEYS[7], maxlen, 'customer.merged', '', '', '',
  {'customer', into, 'from', from, 'addresses', tostring(trusted), 'requests', tostring(moved)})
return trusted
