--[[ long_wait: the requests whose wait in a queue fell due as long (progress notices); each
     still waiting (or offered) gets a `long_wait` event and is due again after `again`; any
     other is dropped from the due set. A member another daemon fired first (its score moved
     past now) is left alone, so one event per due instant however many daemons run.

  KEYS[1] the wait due set (request id -> due ms)   KEYS[2] events stream
  KEYS[3..] the request hashes, in the order of ARGV[3..]

  ARGV[1] stream max length   ARGV[2] again in ms   ARGV[3..] request ids

  Returns the ids that got an event.
]]
--- @include "common"

local now = now_ms()
local fired = {}
for i = 3, #ARGV do
  local id, key = ARGV[i], KEYS[i]
  local due = redis.call('ZSCORE', KEYS[1], id)
  if due and tonumber(due) <= now then
    local r = redis.call('HMGET', key, 'state', 'queue', 'enqueued_ms')
    if r[1] == 'waiting' or r[1] == 'offered' then
      local waited = r[3] and string.format('%.0f', now - tonumber(r[3])) or ''
      emit(KEYS[2], ARGV[1], 'long_wait', id, '', r[2], {'progress', 'long_wait', 'waited_ms', waited})
      redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), id)
      fired[#fired + 1] = id
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end
return fired
