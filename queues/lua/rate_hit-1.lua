--[[ rate_hit: count one hit in a fixed window.

  KEYS[1] the window's counter

  ARGV[1] window length in ms

  Returns {hits in this window, ms until the window ends}.
]]

local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {hits, redis.call('PTTL', KEYS[1])}
