--[[ report_clear: hours of the report figures emptied before a rebuild from an export
     (router/reports/rebuild.py): their figure hashes, notes lists and seen sets.

  KEYS[1..] the keys to remove: for each hour, its figures hash, its notes list, its seen set

  No ARGV.

  Returns how many of the keys existed.
]]

local removed = 0
for i = 1, #KEYS do removed = removed + redis.call('DEL', KEYS[i]) end
return removed
