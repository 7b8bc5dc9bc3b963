-- Service-level clocks (router/sla/policy.py has their meaning). A request's clocks are one
-- JSON document in its hash's `sla` field: {p: policy, aw/ab: actions at warning/breach, by:
-- what meets a first response, t: targets}; each target {n: name, d: ms, c: calendar ('' wall
-- time), w: warning fraction, s: new|idle|running|paused|met|stopped, st: start, due, wd:
-- warning instant, left/wl: working ms still to run while paused, pz: paused at, pt: paused ms
-- so far, wa: warned at, br: breached at, met, cy: cycles (next_response)}. Due instants wait in
-- the sorted set `due` as `<request>|<target index>|w` (warning) and `|b` (breach).
--
-- Working time walks the calendars' working spans, which the daemon publishes in the hash
-- `cal`: field `<calendar>:<week>` (week = floor(ms / WEEK_MS)) holds the week's spans as
-- msgpack {open, close, open, close, ...}, clipped to the week. A week that is not there lies
-- past the published horizon: a due instant there is left unset (the clock runs, never fires).

local WEEK_MS = 604800000
local MAX_WEEKS = 60
local FR_BUCKETS = {5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400,
  172800, 604800}  -- first-response seconds, the histogram's upper bounds

local SLA = {weeks = {}}

-- ctx: due zset, calendars hash, stats hash, events stream, stream max length
local function sla_context(due, cal, stats, stream, maxlen)
  SLA.due, SLA.cal, SLA.stats, SLA.stream, SLA.maxlen = due, cal, stats, stream, maxlen
end

local function week_spans(name, week)
  local field = name .. ':' .. week
  local found = SLA.weeks[field]
  if found == nil then
    local raw = redis.call('HGET', SLA.cal, field)
    found = raw and cmsgpack.unpack(raw) or false
    SLA.weeks[field] = found
  end
  return found
end

-- The first instant at or after `t` inside working time (nil: past the horizon).
local function work_open(name, t)
  if name == '' then return t end
  local week = math.floor(t / WEEK_MS)
  for k = week, week + MAX_WEEKS do
    local s = week_spans(name, k)
    if not s then return nil end
    for i = 1, #s, 2 do
      if s[i + 1] > t then return math.max(s[i], t) end
    end
  end
  return nil
end

-- The instant by which `d` ms of working time have passed since `t` (nil: past the horizon).
local function work_add(name, t, d)
  if d <= 0 then return t end
  if name == '' then return t + d end
  local left = d
  local week = math.floor(t / WEEK_MS)
  for k = week, week + MAX_WEEKS do
    local s = week_spans(name, k)
    if not s then return nil end
    for i = 1, #s, 2 do
      local o, c = s[i], s[i + 1]
      if c > t then
        local b = math.max(o, t)
        if c - b >= left then return b + left end
        left = left - (c - b)
      end
    end
  end
  return nil
end

-- The working ms in [a, b) (for an unset `b`: nil).
local function work_between(name, a, b)
  if not b then return nil end
  if b <= a then return 0 end
  if name == '' then return b - a end
  local total = 0
  for k = math.floor(a / WEEK_MS), math.floor((b - 1) / WEEK_MS) do
    local s = week_spans(name, k)
    if s then
      for i = 1, #s, 2 do
        local o, c = s[i], s[i + 1]
        if o >= b then break end
        if c > a then total = total + math.min(c, b) - math.max(o, a) end
      end
    end
  end
  return total
end

local function sla_load(reqKey)
  local raw = redis.call('HGET', reqKey, 'sla')
  if not raw then return nil end
  return cjson.decode(raw)
end

local function member(id, i, kind)
  return id .. '|' .. i .. '|' .. kind
end

local function unschedule(id, i)
  redis.call('ZREM', SLA.due, member(id, i, 'w'), member(id, i, 'b'))
end

local function schedule(id, i, t)
  if t.due and not t.br then redis.call('ZADD', SLA.due, t.due, member(id, i, 'b')) end
  if t.wd and not t.wa and not t.br then redis.call('ZADD', SLA.due, t.wd, member(id, i, 'w')) end
end

-- Run target `t` from `from` with `d` ms to go (and `wl` to its warning point, nil: none).
local function run(id, i, t, from, d, wl)
  local start = work_open(t.c, from)
  t.s = 'running'
  t.due = start and work_add(t.c, start, d)
  t.wd = nil
  if start and wl then t.wd = work_add(t.c, start, wl) end
  schedule(id, i, t)
end

local function stat(field, by)
  redis.call('HINCRBY', SLA.stats, field, by or 1)
end

local function sla_event(etype, id, agent, queue, c, t, extra)
  local fields = {'policy', c.p, 'target', t.n, 'due', string.format('%.0f', t.due or 0)}
  for _, v in ipairs(extra) do fields[#fields + 1] = v end
  emit(SLA.stream, SLA.maxlen, etype, id, agent, queue, fields)
end

-- The nearest breach among running clocks, kept beside the document for the matcher's term.
local function sla_save(reqKey, c)
  redis.call('HSET', reqKey, 'sla', cjson.encode(c))
  local due, span
  for _, t in ipairs(c.t) do
    if t.s == 'running' and t.due and (not due or t.due < due) then
      due, span = t.due, math.max(t.due - (t.st or t.due), 1)
    end
  end
  if due then
    redis.call('HSET', reqKey, 'sla_due', string.format('%.0f', due),
      'sla_span', string.format('%.0f', span))
  else
    redis.call('HDEL', reqKey, 'sla_due', 'sla_span')
  end
end

-- A new request's clocks (the intake's plan, JSON) start: at `now`, or at the next opening of
-- their calendar when it is closed.
local function sla_start(reqKey, id, plan, now)
  if plan == '' then return end
  local c = cjson.decode(plan)
  if c.k then redis.call('HSET', reqKey, 'keep', c.k) end  -- its retention class ('important')
  if not c.t then return end  -- no service-level policy
  for i, t in ipairs(c.t) do
    if t.s == 'new' then
      t.st = work_open(t.c, now) or now
      local wl = t.w < 1 and math.floor(t.d * t.w) or nil
      run(id, i, t, now, t.d, wl)
    end
  end
  sla_save(reqKey, c)
end

local function met_stats(c, t, channel, now, reqKey)
  stat(c.p .. '|' .. t.n .. '|' .. (t.br and 'met_late' or 'met'))
  if t.n == 'first_response' then
    local since = tonumber(redis.call('HGET', reqKey, 'enqueued_ms') or now)
    local s = (now - since) / 1000
    local le = '+Inf'
    for _, b in ipairs(FR_BUCKETS) do
      if s <= b then le = tostring(b) break end
    end
    stat('fr|' .. channel .. '|' .. le)
    stat('fr|' .. channel .. '|sum_ms', math.floor(now - since))
  end
end

-- Targets named in `names` (a set) that run or wait are met now; returns how many.
local function sla_meet(reqKey, id, c, names, now, agent, queue, channel)
  local n = 0
  for i, t in ipairs(c.t) do
    if names[t.n] and (t.s == 'running' or t.s == 'paused') then
      if t.s == 'paused' then t.pt = (t.pt or 0) + (now - t.pz) end
      t.s, t.met, t.pz, t.left, t.wl = 'met', now, nil, nil, nil
      unschedule(id, i)
      met_stats(c, t, channel, now, reqKey)
      sla_event('sla.met', id, agent, queue, c, t,
        {'breached', t.br and '1' or '0', 'channel', channel})
      n = n + 1
    end
  end
  return n
end

-- Every clock not met stops (the request closed).
local function sla_stop(c, id)
  for i, t in ipairs(c.t) do
    if t.s ~= 'met' and t.s ~= 'stopped' then
      t.s = 'stopped'
      unschedule(id, i)
    end
  end
end

-- The request waits on the customer: running clocks keep what they have left.
local function sla_pause(c, id, now)
  for i, t in ipairs(c.t) do
    if t.s == 'running' then
      t.left = t.due and math.max(work_between(t.c, now, t.due), 0) or t.d
      t.wl = (t.wd and not t.wa) and math.max(work_between(t.c, now, t.wd), 0) or nil
      t.s, t.pz = 'paused', now
      unschedule(id, i)
    end
  end
end

-- The customer answered: paused clocks run again with what they had left.
local function sla_resume(c, id, now)
  for i, t in ipairs(c.t) do
    if t.s == 'paused' then
      t.pt = (t.pt or 0) + (now - t.pz)
      local left, wl = t.left, t.wl
      t.pz, t.left, t.wl = nil, nil, nil
      run(id, i, t, now, left, wl)
    end
  end
end

-- A customer's message: next_response starts (once the first response is met) unless it runs.
local function sla_customer_spoke(c, id, now)
  local first
  for _, t in ipairs(c.t) do
    if t.n == 'first_response' then first = t end
  end
  if first and first.s ~= 'met' and first.s ~= 'stopped' then return end
  for i, t in ipairs(c.t) do
    if t.n == 'next_response' and (t.s == 'idle' or t.s == 'met') then
      t.cy = (t.cy or 0) + 1
      t.st = work_open(t.c, now) or now
      t.wa, t.br, t.met = nil, nil, nil
      local wl = t.w < 1 and math.floor(t.d * t.w) or nil
      run(id, i, t, now, t.d, wl)
    end
  end
end

-- A customer's message on an open request: a pending request is theirs again (back to its
-- agent, clocks running), and the next response's clock starts.
local function customer_spoke(reqKey, id, state, agent, queue, maxlen)
  local c = sla_load(reqKey)
  local now = now_ms()
  if state == 'pending_customer' then
    redis.call('HSET', reqKey, 'state', 'assigned')
    redis.call('HDEL', reqKey, 'pending_ms')
    emit(SLA.stream, maxlen, 'resumed', id, agent, queue, {'by', 'customer'})
    if c then sla_resume(c, id, now) end
  end
  if c then
    sla_customer_spoke(c, id, now)
    sla_save(reqKey, c)
  end
end

-- An agent's message to the customer: the next response is met, and the first response too
-- unless the policy counts a first response by taking the request (a callback).
local function agent_spoke(reqKey, id, agent, queue)
  local c = sla_load(reqKey)
  if not c then return end
  local names = {next_response = true}
  if c.by ~= 'accept' then names.first_response = true end
  local channel = redis.call('HGET', reqKey, 'channel') or ''
  if sla_meet(reqKey, id, c, names, now_ms(), agent, queue, channel) > 0 then
    sla_save(reqKey, c)
  end
end

-- An agent took the request (accept, assign): a callback's first response is met.
local function agent_took(reqKey, id, agent, queue)
  local c = sla_load(reqKey)
  if not c or c.by ~= 'accept' then return end
  local channel = redis.call('HGET', reqKey, 'channel') or ''
  if sla_meet(reqKey, id, c, {first_response = true}, now_ms(), agent, queue, channel) > 0 then
    sla_save(reqKey, c)
  end
end

-- The request closed: completed meets its responses and its resolution; everything else stops.
local function sla_close(reqKey, id, agent, queue, completed)
  local c = sla_load(reqKey)
  if not c then return end
  if completed then
    local channel = redis.call('HGET', reqKey, 'channel') or ''
    local names = {resolution = true, first_response = true, next_response = true}
    sla_meet(reqKey, id, c, names, now_ms(), agent, queue, channel)
  end
  sla_stop(c, id)
  sla_save(reqKey, c)
end
