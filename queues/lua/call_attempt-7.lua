--[[ call_attempt: the agent holding a phone callback records one call attempt and its outcome
     (reached, no_answer, busy, wrong_number). A missed one (no_answer, busy) before the last
     attempt goes back to waiting in its queue, its age kept, with its data rewritten by the
     caller so that its window opens at the retry time (the dispatcher holds it until then, as
     any callback: router/routing/callbacks.py); the agent gets the capacity back.

  KEYS[1] request hash   KEYS[2] its queue's sorted set   KEYS[3] the agent's hash
  KEYS[4] the agent's holds hash   KEYS[5] offers sorted set   KEYS[6] events stream
  KEYS[7] set of queue names

  ARGV[1] request id   ARGV[2] agent id (must hold it, assigned)   ARGV[3] queue as read
  ARGV[4] outcome   ARGV[5] note   ARGV[6] stream max length   ARGV[7] max attempts
  ARGV[8] the data as read (msgpack)   ARGV[9] the data for a retry (its window from the
  retry time)   ARGV[10] the retry time (Unix s, for the event)

  The event `call.attempted` carries outcome, attempt (1, 2, ...), retry_at ('' when not
  retried), note and channel.

  Returns {record after (HGETALL), attempt number, 1 when re-queued for a retry else 0};
  or -1 no such request, -2 not assigned, -15 not held by the agent, -9 its queue or data
  changed since read (nothing changed: read again).
]]
--- @include "common"
--- @include "holder"

local r = redis.call('HMGET', KEYS[1], 'state', 'agent', 'queue', 'data', 'channel')
if not r[1] then return -1 end
if (r[2] or '') ~= ARGV[2] then return -15 end
if r[1] ~= 'assigned' then return -2 end
if r[3] ~= ARGV[3] or r[4] ~= ARGV[8] then return -9 end
local attempt = redis.call('HINCRBY', KEYS[1], 'call_attempts', 1)
local missed = ARGV[4] == 'no_answer' or ARGV[4] == 'busy'
local retry = missed and attempt < tonumber(ARGV[7])
if retry then
  redis.call('HSET', KEYS[1], 'data', ARGV[9])
  detach(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], 'assigned', r[5])
  redis.call('SADD', KEYS[7], r[3])
  requeue(KEYS[1], KEYS[2], ARGV[1])
end
emit(KEYS[6], ARGV[6], 'call.attempted', ARGV[1], ARGV[2], r[3],
  {'outcome', ARGV[4], 'attempt', tostring(attempt), 'retry_at', retry and ARGV[10] or '',
   'note', ARGV[5], 'channel', r[5] or ''})
return {redis.call('HGETALL', KEYS[1]), attempt, retry and 1 or 0}
