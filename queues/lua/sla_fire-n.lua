--[[ sla_fire: warnings and breaches that are due, each claimed once however many daemons try
     (the ZREM of its member decides), recorded in the request's clocks, appended as an event
     (sla.warning / sla.breached) and counted; a policy that asks for raise_priority has the
     request raised one band here, keeping its place in arrival order (its age). A warning
     whose breach is due as well (both passed while no daemon ran) is dropped: the breach says it.

  KEYS[1] SLA due instants   KEYS[2] events stream   KEYS[3] SLA counters
  KEYS[4..] pairs (request hash, the queue the caller saw it in), one per member

  ARGV[1] stream max length   ARGV[2] ms after its instant that a firing is late
  ARGV[3..] triples (member, its instant, the queue name the caller saw), one per pair of KEYS

  Returns a flat list of quadruples, one per member this call fired: (request id, 'w' or 'b',
  the actions asked for (comma-separated), the request's state after).
]]
--- @include "common"
--- @include "clocks"

sla_context(KEYS[1], '', KEYS[3], KEYS[2], ARGV[1])
local late_ms = tonumber(ARGV[2])
local fired = {}
local n = (#KEYS - 3) / 2
for i = 1, n do
  local m, at, seen = ARGV[3 * i], tonumber(ARGV[3 * i + 1]), ARGV[3 * i + 2]
  local reqKey, queueKey = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  if redis.call('ZREM', KEYS[1], m) == 1 then
    local id, idx, kind = string.match(m, '^(.*)|(%d+)|([wb])$')
    local c = id and sla_load(reqKey)
    local t = c and c.t[tonumber(idx)]
    local now = now_ms()
    if t and kind == 'w' and t.due and t.due <= now then
      t = nil  -- its breach is due too (fired late, after downtime): the breach alone is told
    end
    if t and t.s == 'running' then
      local actions
      local r = redis.call('HMGET', reqKey, 'state', 'agent', 'queue', 'channel', 'band', 'seq')
      if kind == 'w' then
        t.wa, actions = now, c.aw
      else
        t.br, actions = now, c.ab
        redis.call('ZREM', KEYS[1], member(id, idx, 'w'))
      end
      local etype = kind == 'w' and 'sla.warning' or 'sla.breached'
      sla_event(etype, id, r[2], r[3], c, t,
        {'at', string.format('%.0f', at), 'late', (now - at > late_ms) and '1' or '0',
         'actions', actions or '', 'channel', r[4] or ''})
      stat(c.p .. '|' .. t.n .. '|' .. (kind == 'w' and 'warning' or 'breached'))
      if string.find(',' .. (actions or '') .. ',', ',raise_priority,', 1, true) then
        local band = tonumber(r[5])
        if band and band > 0 then
          local score = string.format('%.0f', (band - 1) * 4294967296 + tonumber(r[6]))
          redis.call('HSET', reqKey, 'band', band - 1, 'score', score)
          if r[1] == 'waiting' and r[3] == seen then
            redis.call('ZADD', queueKey, 'XX', score, id)
          end
        end
      end
      sla_save(reqKey, c)
      fired[#fired + 1] = id
      fired[#fired + 1] = kind
      fired[#fired + 1] = actions or ''
      fired[#fired + 1] = r[1]
    end
  end
end
return fired
