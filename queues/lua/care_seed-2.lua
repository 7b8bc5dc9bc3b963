--[[ care_seed: the config's entries of one care list, at start and reload: each one not on the
     list and not removed by API is put there (for ever, source config); a config entry the
     config no longer has is taken off. Entries of other sources are left as they are.

  KEYS[1] the list (hash)   KEYS[2] the list's removed config entries (set)

  ARGV pairs: entry key, entry as written.

  Returns the list after the seed (HGETALL).
]]
--- @include "common"

local wanted = {}
for i = 1, #ARGV, 2 do
  local key, entry = ARGV[i], ARGV[i + 1]
  wanted[key] = true
  if redis.call('SISMEMBER', KEYS[2], key) == 0 and redis.call('HEXISTS', KEYS[1], key) == 0 then
    redis.call('HSET', KEYS[1], key, cjson.encode({
      e = entry, u = 0, s = 'config', r = '', at = math.floor(now_ms())}))
  end
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if not wanted[all[i]] and cjson.decode(all[i + 1]).s == 'config' then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return redis.call('HGETALL', KEYS[1])
