--[[ intake: one message, atomically: rate limits, who sent it (addresses -> customer, following
     merges; a new customer with the pre-allocated id when none is known; new addresses
     attached), idempotency (seen before: the earlier request), threading (its conversation
     references, or the sender's open request on the channel, lead to an open request: the
     message is appended) and else the enqueue of the new, classified request, remembering the
     conversation references. The caller resolved every key first (queues/intake.py, from its
     cache or a read); when a mapping is not what the caller passed, nothing is written and the
     answer is STALE with what the script saw, to plan again.

  KEYS[1] idempotency key (channel:external id), or the placeholder when ARGV[10] is '0'
  KEYS[2] events stream
  KEYS[3] the new request's hash (its id pre-allocated)     KEYS[4] its queue (sorted set)
  KEYS[5] seq counter (arrival order)                       KEYS[6] set of queue names
  KEYS[7] the customer's requests (sorted set)              KEYS[8] the customer's addresses (set)
  KEYS[9] SLA due instants (sorted set)   KEYS[10] calendars' working spans (hash)
  KEYS[11] SLA counters (hash)     KEYS[12] last agents (hash: '<customer>|<queue>' -> '<agent>|<ms>')
  KEYS[13..] then, in this order (counts in ARGV[16..21]):
    na address keys, one per address (ARGV)
    nc customer hashes: the merge chain, from the first customer found (by the given id, by
       the first address that has an owner, or the new customer) to the one it was merged into
       last (the customer of KEYS[7] and KEYS[8])
    nr thread keys: conversation references, those looked up first, in order
    nq pairs (request hash, messages list): the requests a reference or the customer's list may
       lead to
    nl rate-limit window counters

  ARGV[1] request id   ARGV[2] channel   ARGV[3] queue name   ARGV[4] priority band
  ARGV[5] tier         ARGV[6] msgpack request
  ARGV[7] msgpack message (the same message as a follow-up; '' when no request can be joined)
  ARGV[8] idempotency and thread TTL in seconds                ARGV[9] stream max length
  ARGV[10] '1' when KEYS[1] is a real idempotency key
  ARGV[11] how the customer is found: 'new', 'address' or 'given' (the chain starts at an id)
  ARGV[12] customer name ('' if unknown)   ARGV[13] author of the message ('customer')
  ARGV[14] the channel whose open request of the customer the message joins ('': none)
  ARGV[15] how many of the customer's requests are looked through (newest first)
  ARGV[16] na   ARGV[17] nc   ARGV[18] nr   ARGV[19] nq   ARGV[20] nl   ARGV[21] nx
  ARGV[22] '1' when the limits count a duplicate too, '0' when a message seen before is not
  counted again (a platform's retry)
  ARGV[23] '1' when the message only joins: no open request to join, no new one ('closed');
  else why a robot sent it (an auto-reply, list mail: 'auto-replied', 'list', ...): it only
  joins too, kept as a message marked auto that is not the customer speaking (no resumed
  pending, no clock), and with nothing to join the event auto_reply.dropped is appended;
  '0' a message of a person that may open a request
  ARGV[24] the new request's SLA clocks (JSON, router/sla/policy.py; '' none)
  ARGV[25] the new request's category ('' none), kept in its hash for the reports
  ARGV[26] reopen window, ms: a person's message whose first reference leading to a request
  finds it completed less than this ago reopens it (back to waiting in the queue of KEYS[4],
  its last agent preferred; the event reopened); later, or '0', a new request linked to it
  (`previous` in its hash and its enqueued event). An auto message never reopens.
  ARGV[27] sticky window of the new request's queue, ms ('0' none): the agent who completed
  the customer's last request in that queue less than this ago is its preferred agent
  (`preferred` in its hash and its enqueued event)
  ARGV[28..]: na addresses (kind:value); nc customer ids; nr triples (the reference, the request it
  names itself or '', flags: 'l' looked up, 'k' leads to the request from now on, 'r' a
  reference the message made); nq request ids; nl pairs (window ms, most hits); nx ids of the
  customer's requests known closed.

  The enqueued event carries channel, category, priority (high, medium, low) and tier.

  Returns {outcome, request id, customer id, messages, facts...}, outcome one of
  'created', 'appended' (messages: the count after the append), 'reopened' (the same), 'duplicate' (the request the
  same message became or joined before), 'limited' (request id: the ms to wait; nothing else
  counted or written), 'closed' (ARGV[23]: nothing to join; nothing written), 'stale'
  (nothing written). Facts are triples (kind, index, value):
  'address' i -> its owner ('' none); 'customer' i -> merged into ('' not, '!' no such
  customer); 'ref' i -> the request it leads to; 'member' 0 -> a request of the customer the
  caller did not pass; 'closed' 0 -> a passed request that is closed or gone.
  -13 when a request with this id exists already.
]]
--- @include "common"
--- @include "waiting"
--- @include "clocks"

local na, nc, nr = tonumber(ARGV[16]), tonumber(ARGV[17]), tonumber(ARGV[18])
local nq, nl, nx = tonumber(ARGV[19]), tonumber(ARGV[20]), tonumber(ARGV[21])
local ka, kc = 13, 13 + na
local kr = kc + nc
local kq = kr + nr
local kl = kq + 2 * nq
local aa, ac = 28, 28 + na
local ar = ac + nc
local aq = ar + 3 * nr
local al = aq + nq
local ax = al + 2 * nl
local ttl, maxlen, mode = ARGV[8], ARGV[9], ARGV[11]
sla_context(KEYS[9], KEYS[10], KEYS[11], KEYS[2], maxlen)

local facts, stale = {}, false
local function fact(kind, i, value)
  facts[#facts + 1] = kind
  facts[#facts + 1] = i
  facts[#facts + 1] = value or ''
end
local function open(state)
  return state and state ~= 'completed' and state ~= 'abandoned'
end

-- who: the first address with an owner, else the given id, must start the chain the caller passed
local first
for i = 1, na do
  local owner = redis.call('GET', KEYS[ka + i - 1])
  fact('address', i, owner)
  if owner and not first then first = owner end
end
if mode == 'new' then
  if first then stale = true end
elseif mode == 'address' then
  if first ~= ARGV[ac] then stale = true end
end
for i = 1, nc do
  local key = KEYS[kc + i - 1]
  local merged = redis.call('HGET', key, 'merged_into')
  if mode ~= 'new' and not merged and redis.call('EXISTS', key) == 0 then
    fact('customer', i, '!')
    stale = true
  else
    fact('customer', i, merged)
    if (i < nc and merged ~= ARGV[ac + i]) or (i == nc and merged) then stale = true end
  end
end
local customer = ARGV[ac + nc - 1]

-- threading: the first reference that leads to an open request, else the customer's newest
-- open request on the channel; a request the caller did not pass cannot be read: stale
local passed = {}
for i = 1, nq do passed[ARGV[aq + i - 1]] = i end
local target, blocked, done
for i = 1, nr do
  local flags = ARGV[ar + 3 * (i - 1) + 2]
  if string.find(flags, 'l', 1, true) then
    local now_at = redis.call('GET', KEYS[kr + i - 1])
    fact('ref', i, now_at)
    local candidate = now_at or ARGV[ar + 3 * (i - 1) + 1]
    if not target and not blocked and candidate ~= '' then
      local q = passed[candidate]
      local state = q and redis.call('HGET', KEYS[kq + 2 * (q - 1)], 'state')
      if not q then
        blocked = true
      elseif open(state) then
        target = q
      elseif state == 'completed' and not done then
        done = q  -- the first completed request a reference leads to: reopened or linked
      end
    end
  end
end
if not target and not blocked and ARGV[14] ~= '' then
  local closed = {}
  for i = 1, nx do closed[ARGV[ax + i - 1]] = true end
  local newest = -1
  for _, id in ipairs(redis.call('ZREVRANGE', KEYS[7], 0, tonumber(ARGV[15]) - 1)) do
    local q = passed[id]
    if q then
      local r = redis.call('HMGET', KEYS[kq + 2 * (q - 1)], 'state', 'channel', 'enqueued_ms')
      if not open(r[1]) then
        fact('closed', 0, id)
      elseif r[2] == ARGV[14] and tonumber(r[3]) > newest then
        target, newest = q, tonumber(r[3])
      end
    elseif not closed[id] then
      fact('member', 0, id)
      blocked = true
    end
  end
  if blocked then target = nil end
end
if stale or blocked then return {'stale', '', customer, 0, unpack(facts)} end

local seen = ARGV[10] == '1' and redis.call('GET', KEYS[1])
local auto = ARGV[23] ~= '0' and ARGV[23] ~= '1' and ARGV[23] or nil
local reopen, previous
if not target and done and not auto then
  local closed = redis.call('HGET', KEYS[kq + 2 * (done - 1)], 'closed_ms')
  local within = tonumber(ARGV[26])
  if within > 0 and closed and now_ms() - tonumber(closed) <= within then
    reopen = done
  else
    previous = ARGV[aq + done - 1]
  end
end
if ARGV[23] ~= '0' and not target and not reopen and not seen then
  if auto then
    emit(KEYS[2], maxlen, 'auto_reply.dropped', '', '', '', {'reason', auto, 'channel', ARGV[2],
      'customer', mode == 'new' and '' or customer, 'from', na > 0 and ARGV[aa] or ''})
  end
  return {'closed', '', customer, 0, unpack(facts)}
end
for i = 1, (seen and ARGV[22] == '0') and 0 or nl do
  local key = KEYS[kl + i - 1]
  local hits = redis.call('INCR', key)
  if hits == 1 then redis.call('PEXPIRE', key, ARGV[al + 2 * (i - 1)]) end
  if hits > tonumber(ARGV[al + 2 * i - 1]) then
    return {'limited', tostring(math.max(redis.call('PTTL', key), 1)), customer, 0}
  end
end

-- the customer: made, or given the addresses nobody has yet
local name = ARGV[12]
if mode == 'new' then
  for i = 1, na do
    redis.call('SET', KEYS[ka + i - 1], customer)
    redis.call('SADD', KEYS[8], ARGV[aa + i - 1])
  end
  redis.call('HSET', KEYS[kc], 'name', name, 'created_ms', string.format('%.0f', now_ms()))
  emit(KEYS[2], maxlen, 'customer_created', '', '', '', {'customer', customer})
else
  local attached = 0
  for i = 1, na do
    if redis.call('SET', KEYS[ka + i - 1], customer, 'NX') then
      redis.call('SADD', KEYS[8], ARGV[aa + i - 1])
      attached = attached + 1
    end
  end
  local final = KEYS[kc + nc - 1]
  if name ~= '' and (redis.call('HGET', final, 'name') or '') == '' then
    redis.call('HSET', final, 'name', name)
  end
  if attached > 0 then
    emit(KEYS[2], maxlen, 'customer_updated', '', '', '', {'customer', customer})
  end
end

local function remember(id, wanted)
  for i = 1, nr do
    local flags = ARGV[ar + 3 * (i - 1) + 2]
    for _, f in ipairs(wanted) do
      if string.find(flags, f, 1, true) then
        redis.call('SET', KEYS[kr + i - 1], id, 'EX', ttl)
        break
      end
    end
  end
end

if seen then
  remember(seen, {'k', 'r'})  -- finish what the first delivery may not have
  return {'duplicate', seen, customer, 0, unpack(facts)}
end

if reopen then
  local id = ARGV[aq + reopen - 1]
  local key, list = KEYS[kq + 2 * (reopen - 1)], KEYS[kq + 2 * reopen - 1]
  local r = redis.call('HMGET', key, 'agent', 'closed_ms', 'fcr', 'channel', 'category', 'band',
    'resolution', 'queue')
  if ARGV[10] == '1' then redis.call('SET', KEYS[1], id, 'EX', ttl) end
  redis.call('RPUSH', list, ARGV[7])
  local n = redis.call('HINCRBY', key, 'messages', 1)
  redis.call('PERSIST', key)  -- no longer a closed request kept for a while
  redis.call('PERSIST', list)
  local seq = redis.call('INCR', KEYS[5])
  local score = string.format('%.0f', tonumber(r[6]) * 4294967296 + seq)
  local now = now_ms()
  redis.call('HDEL', key, 'agent', 'closed_ms', 'resolution', 'deadline')
  redis.call('HSET', key, 'state', 'waiting', 'queue', ARGV[3], 'seq', seq, 'score', score,
    'preferred', r[1] or '', 'fcr', '0', 'reopened_ms', string.format('%.0f', now))
  redis.call('HINCRBY', key, 'reopens', 1)
  redis.call('ZADD', KEYS[4], score, id)
  redis.call('SADD', KEYS[6], ARGV[3])
  emit(KEYS[2], maxlen, 'reopened', id, r[1] or '', ARGV[3],
    {'channel', r[4] or '', 'category', r[5] or '', 'since_ms',
     string.format('%.0f', now - tonumber(r[2])), 'closed_ms', r[2], 'fcr', r[3] or '0',
     'resolution', r[7] or '', 'from', r[8] or '', 'author', ARGV[13]})
  remember(id, {'k'})
  return {'reopened', id, customer, n, unpack(facts)}
end

if target then
  local id = ARGV[aq + target - 1]
  local key = KEYS[kq + 2 * (target - 1)]
  local r = redis.call('HMGET', key, 'queue', 'agent', 'state')
  if ARGV[10] == '1' then redis.call('SET', KEYS[1], id, 'EX', ttl) end
  redis.call('RPUSH', KEYS[kq + 2 * target - 1], ARGV[7])
  local n = redis.call('HINCRBY', key, 'messages', 1)
  emit(KEYS[2], maxlen, 'message', id, r[2], r[1],
    auto and {'author', ARGV[13], 'auto', auto} or {'author', ARGV[13]})
  if ARGV[13] == 'customer' and not auto then
    customer_spoke(key, id, r[3], r[2], r[1], maxlen)
  end
  remember(id, {'k'})
  return {'appended', id, customer, n, unpack(facts)}
end

if redis.call('EXISTS', KEYS[3]) == 1 then return -13 end
if ARGV[10] == '1' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl) end
remember(ARGV[1], {'l', 'k', 'r'})
local now = put_waiting(KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  ARGV[5], ARGV[6], ARGV[25])
sla_start(KEYS[3], ARGV[1], ARGV[24], tonumber(now))
redis.call('ZADD', KEYS[7], now, ARGV[1])
local fields = enqueued_fields(ARGV[2], ARGV[25], ARGV[4], ARGV[5])
redis.call('HSET', KEYS[3], 'customer', customer)  -- whose last agent its completion records
local sticky = tonumber(ARGV[27])
local last = sticky > 0 and redis.call('HGET', KEYS[12], customer .. '|' .. ARGV[3])
if last then
  local agent, at = string.match(last, '^(.*)|(%d+)$')
  if agent and tonumber(now) - tonumber(at) <= sticky then
    redis.call('HSET', KEYS[3], 'preferred', agent)
    fields[#fields + 1] = 'preferred'
    fields[#fields + 1] = agent
  end
end
if previous then
  redis.call('HSET', KEYS[3], 'previous', previous)  -- the completed request it follows up
  fields[#fields + 1] = 'previous'
  fields[#fields + 1] = previous
end
emit(KEYS[2], maxlen, 'enqueued', ARGV[1], '', ARGV[3], fields)
return {'created', ARGV[1], customer, 0, unpack(facts)}
