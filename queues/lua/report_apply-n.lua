--[[ report_apply: events added to the report figures, each once: an event whose id its hour's
     seen set holds already (delivered again after a lost lease or a retry) adds nothing; one
     older than ARGV[3] (its seen set may have expired) adds nothing either. The caller
     (router/reports/figures.py) turned each event into its increments; this script only adds
     them, so a live follower and a rebuild from an export write the same figures.

  KEYS[1..] every key the batch touches, each once: the seen sets of the events' hours (event
            ids), the figures' hour hashes, the notes' hour lists

  ARGV[1] how long a seen set is kept after its last write, ms
  ARGV[2] how long a figure hash or notes list is kept after its last write, ms ('0': always)
  ARGV[3] the oldest event taken, as ms of age on the Redis clock ('0': any age, a rebuild)
  ARGV[4] how many events the batch holds
  ARGV[5..] each event: its id, the KEYS index of its seen set, how many increments follow,
            then each increment as four values: op ('i': HINCRBY field by value, 'p': RPUSH
            value, field unused), the KEYS index of its hash or list, field, value

  Returns {applied, seen before, too old}: how many events of the batch each.
]]
--- @include "common"

local seen_ms, keep_ms, oldest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local applied, again, old = 0, 0, 0
local touched = {}
local a = 5
for _ = 1, tonumber(ARGV[4]) do
  local id, seen, n = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local at = tonumber(string.match(id, '^(%d+)') or '0')
  if oldest > 0 and at < now - oldest then
    old = old + 1
  elseif redis.call('SADD', KEYS[seen], id) == 0 then
    again = again + 1
  else
    touched[seen] = seen_ms
    for i = a, a + 4 * (n - 1), 4 do
      local key = tonumber(ARGV[i + 1])
      if ARGV[i] == 'i' then
        redis.call('HINCRBY', KEYS[key], ARGV[i + 2], ARGV[i + 3])
      else
        redis.call('RPUSH', KEYS[key], ARGV[i + 3])
      end
      touched[key] = keep_ms
    end
    applied = applied + 1
  end
  a = a + 4 * n
end
for key, ms in pairs(touched) do
  if ms > 0 then redis.call('PEXPIRE', KEYS[key], ms) end
end
return {applied, again, old}
