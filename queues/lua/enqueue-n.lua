--[[ enqueue: a new request starts waiting in its queue; the same external message twice
     yields the first request's id; a conversation claimed by another request since the caller
     looked is refused, so that concurrent messages of one conversation become one request.

  KEYS[1] idempotency key (channel:external id), or the placeholder when ARGV[9] is '0'
  KEYS[2] request hash
  KEYS[3] queue sorted set
  KEYS[4] seq counter (arrival order)
  KEYS[5] events stream
  KEYS[6] set of queue names
  KEYS[7] the customer's requests (sorted set), or the placeholder when ARGV[10] is '0'
  KEYS[8..] conversation claims: thread keys that lead to the request from now on, each
            expected to hold what the caller read (ARGV[12..], '' for nothing)

  ARGV[1] request id        ARGV[2] channel          ARGV[3] queue name
  ARGV[4] priority band     ARGV[5] tier             ARGV[6] msgpack request
  ARGV[7] idempotency TTL in seconds                 ARGV[8] stream max length
  ARGV[9] '1' when KEYS[1] is a real idempotency key
  ARGV[10] '1' when KEYS[7] is a real customer's requests key
  ARGV[11] how long a claim leads to the request, in seconds
  ARGV[12] the request's category ('' none), kept in its hash and on the event for the reports
  ARGV[13..] what each claim key held when the caller read it ('' for nothing)

  The enqueued event carries channel, category, priority (high, medium, low) and tier.

  Returns {request id, 1} when created, {first request's id, 0} for a duplicate,
  {the request a claim now leads to, 2} when a claim changed since the caller read it
  (nothing is written: read again and join that request);
  -13 when a request with this id exists already.
]]
--- @include "common"
--- @include "waiting"

if ARGV[9] == '1' then
  local first = redis.call('GET', KEYS[1])
  if first then return {first, 0} end
end
for i = 8, #KEYS do
  local now_at = redis.call('GET', KEYS[i]) or ''
  if now_at ~= ARGV[i + 5] then return {now_at, 2} end
end
if redis.call('EXISTS', KEYS[2]) == 1 then return -13 end
if ARGV[9] == '1' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[7]) end
for i = 8, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'EX', ARGV[11]) end

local now = put_waiting(KEYS[2], KEYS[3], KEYS[4], KEYS[6], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  ARGV[5], ARGV[6], ARGV[12])
if ARGV[10] == '1' then redis.call('ZADD', KEYS[7], now, ARGV[1]) end
emit(KEYS[5], ARGV[8], 'enqueued', ARGV[1], '', ARGV[3],
  enqueued_fields(ARGV[2], ARGV[12], ARGV[4], ARGV[5]))
return {ARGV[1], 1}
