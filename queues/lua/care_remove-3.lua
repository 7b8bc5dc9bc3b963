--[[ care_remove: take a customer off a care list. An entry the config put there is remembered
     as removed, so that the next start or reload does not put it back.

  KEYS[1] the list (hash)   KEYS[2] the list's removed config entries (set)   KEYS[3] events

  ARGV[1] list name   ARGV[2] entry key   ARGV[3] stream max length   ARGV[4] source of the
  removal (api, survey)   ARGV[5] '1': only an entry that came from ARGV[6] (a good score takes
  off what a bad score put on, never what a supervisor or the config did)   ARGV[6] that source

  Returns 1 when the entry was on the list, 0 when it was not.
]]
--- @include "common"

local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return 0 end
local held = cjson.decode(raw)
if ARGV[5] == '1' and held.s ~= ARGV[6] then return 0 end
if held.s == 'config' then redis.call('SADD', KEYS[2], ARGV[2]) end
redis.call('HDEL', KEYS[1], ARGV[2])
emit(KEYS[3], ARGV[3], 'customer.unlisted', '', '', '',
  {'list', ARGV[1], 'key', ARGV[2], 'entry', held.e, 'source', ARGV[4]})
return 1
