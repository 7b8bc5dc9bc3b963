--[[ milestone: an agent marks a stage of an open request done (a complaint's
     investigation_started, investigation_done, final_answer; or any target of its policy):
     that target's clock is met now. Marking a stage twice, or one the policy has not, is
     refused; a milestone event is appended either way it succeeds.

  KEYS[1] request hash   KEYS[2] events stream
  KEYS[3] SLA due instants   KEYS[4] calendars' working spans   KEYS[5] SLA counters

  ARGV[1] request id   ARGV[2] agent id   ARGV[3] the target's name   ARGV[4] stream max length
  ARGV[5] '1' when only the request's holder may mark it (an agent's own token)
  ARGV[6] a note (free text, '' none)

  Returns the record after the change (HGETALL); or -1 no such request, -15 not held by the
  agent (with ARGV[5]), -2 the request is closed, -16 its policy has no such target,
  -17 that target was met (or stopped) already.
]]
--- @include "common"
--- @include "clocks"

local r = redis.call('HMGET', KEYS[1], 'state', 'agent', 'queue', 'channel')
if not r[1] then return -1 end
if ARGV[5] == '1' and r[2] ~= ARGV[2] then return -15 end
if r[1] == 'completed' or r[1] == 'abandoned' then return -2 end
sla_context(KEYS[3], KEYS[4], KEYS[5], KEYS[2], ARGV[4])
local c = sla_load(KEYS[1])
local found
for _, t in ipairs(c and c.t or {}) do
  if t.n == ARGV[3] then found = t end
end
if not found then return -16 end
if found.s ~= 'running' and found.s ~= 'paused' and found.s ~= 'new' then return -17 end
emit(KEYS[2], ARGV[4], 'milestone', ARGV[1], ARGV[2], r[3],
  {'target', ARGV[3], 'note', ARGV[6]})
sla_meet(KEYS[1], ARGV[1], c, {[ARGV[3]] = true}, now_ms(), ARGV[2], r[3], r[4] or '')
sla_save(KEYS[1], c)
return redis.call('HGETALL', KEYS[1])
