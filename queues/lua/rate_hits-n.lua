--[[ rate_hits: count one hit under each limit in turn, each in its own fixed window; the first
     limit that is over stops the count (the later ones are not charged).

  KEYS[i] the window counter of limit i

  ARGV[2i-1] limit i's window length in ms   ARGV[2i] limit i's most hits in a window

  Returns 0 when every limit admits the hit, else the ms until the refusing limit's window ends.
]]

for i, key in ipairs(KEYS) do
  local hits = redis.call('INCR', key)
  if hits == 1 then redis.call('PEXPIRE', key, ARGV[2 * i - 1]) end
  if hits > tonumber(ARGV[2 * i]) then
    return math.max(redis.call('PTTL', key), 1)
  end
end
return 0
