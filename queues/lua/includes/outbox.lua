-- Shared by the outbox scripts: lanes are members `<lane>\0<padded entry id>` of one sorted set
-- per sink (every score 0, read by lex), so that a lane's events sort in stream order.

-- A stream entry id `ms-seq` with both parts zero-padded to 20 digits: compares as text.
local function padded_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if not ms then return nil end
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end

local function unpadded_id(padded)
  local ms, seq = string.match(padded, '^(%d+)-(%d+)$')
  return (string.gsub(ms, '^0+(%d)', '%1')) .. '-' .. (string.gsub(seq, '^0+(%d)', '%1'))
end

local function lane_member(lane, id)
  return lane .. '\0' .. padded_id(id)
end

-- The first member of `lane`, or nil.
local function lane_head(lanesKey, lane)
  return redis.call('ZRANGEBYLEX', lanesKey, '[' .. lane .. '\0', '(' .. lane .. '\1',
    'LIMIT', 0, 1)[1]
end

-- The lane's delivery in flight ended: its next event (if any) is due at once.
local function advance(lanesKey, dueKey, leasesKey, lane)
  redis.call('HDEL', leasesKey, lane)
  if lane_head(lanesKey, lane) then
    redis.call('ZADD', dueKey, now_ms(), lane)
  else
    redis.call('ZREM', dueKey, lane)
  end
end
