-- GCRA in Redis: the twin of src/base/gcra.rs, run atomically, on Redis's own clock.
-- KEYS[1]  the bucket (hash-tagged, so each bucket maps to one Redis Cluster slot)
-- ARGV[1]  microseconds between two units at the steady rate
-- ARGV[2]  microseconds of credit a full bucket holds (interval * burst)
-- ARGV[3]  units
-- ARGV[4]  "take" (all units or none), "lease" (as many as fit, up to the units, but at
--          least ARGV[5]), "refund" (give units back), "charge" (take them even into debt),
--          "peek"
-- Returns {granted units, whole units remaining, retry-after us, reset-after us}.
--
-- Times are microseconds since 2023-11-14 (unix 1700000000): small enough for Lua's doubles
-- to keep sub-microsecond steps, so rates up to a million per second per key stay exact.
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local units = tonumber(ARGV[3])
local mode = ARGV[4]
local tat = tonumber(redis.call('GET', KEYS[1]) or '') or now
local base = math.max(tat, now)

local function store(new)
  -- A bucket whose TAT has passed is a full one: let Redis forget it then.
  local ttl = math.max(math.ceil((new - now) / 1000), 1)
  redis.call('SET', KEYS[1], string.format('%.3f', new), 'PX', ttl)
end

local function left(new)
  return math.max(math.floor((capacity - (math.max(new, now) - now)) / interval), 0)
end

if mode == 'peek' then
  return {0, left(base), 0, math.floor(base - now)}
end
if mode == 'refund' then
  local new = math.max(tat - interval * units, math.min(now, tat))
  store(new)
  return {units, left(new), 0, math.floor(math.max(new - now, 0))}
end
if mode == 'charge' then
  local new = base + interval * units
  store(new)
  return {units, left(new), 0, math.floor(new - now)}
end
local granted = units
if mode == 'lease' then
  granted = math.max(math.min(units, left(base)), tonumber(ARGV[5]))
end
local new = base + interval * granted
if new - now > capacity then
  return {0, left(base), math.ceil(new - now - capacity), math.floor(base - now)}
end
store(new)
return {granted, left(new), 0, math.floor(new - now)}
