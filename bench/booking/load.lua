-- wrk script for bench_booking.py: one phase of load against the booking API.
--
--   wrk ... -s load.lua URL -- availability 200
--   wrk ... -s load.lua URL -- booking 201 PAIRS SERVICE FIRST_EPOCH SLOTS_PER_DAY BASE_SLOT THREADS TAG
--
-- Every response whose status is not the expected one is counted; done() prints one line
-- "WRK_RESULT {json}" (see bench/wrk.py) with wrk's figures and those counts.
--
-- booking: POST URL (the bookings endpoint) with a JSON body, a bearer token and a fresh
-- Idempotency-Key. PAIRS is a file of "token<TAB>provider_id" lines, client i with the
-- provider of its own that the seed gave it. Request g (numbered across wrk threads) goes
-- to pair g % n at slot BASE_SLOT + g // n, a 5-minute slot counted from FIRST_EPOCH
-- (SLOTS_PER_DAY a day), so no two requests ever ask for the same provider and slot and
-- every one must be created. done() reports the highest slot asked for, so the next
-- phase can start above it.

-- Main state: the thread objects, so done() can add up their counters.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

-- Thread state: read back by done() through thread:get, hence globals.
unexpected = 0
first_unexpected = 0
last_slot = -1

local expected
local pairs_list, service_id, first_epoch, slots_per_day, base_slot, thread_count, tag
local issued = 0

local function booking_request()
  local g = issued * thread_count + id
  issued = issued + 1
  local n = #pairs_list
  local pair = pairs_list[g % n + 1]
  local slot = base_slot + math.floor(g / n)
  last_slot = slot
  local day, index = math.floor(slot / slots_per_day), slot % slots_per_day
  local starts_at = os.date("!%Y-%m-%dT%H:%M:%S+00:00", first_epoch + day * 86400 + index * 300)
  local body = string.format(
    '{"provider_id":"%s","service_id":"%s","starts_at":"%s"}', pair[2], service_id, starts_at
  )
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = pair[1],
    ["Idempotency-Key"] = tag .. "-" .. g,
  }, body)
end

function init(args)
  expected = tonumber(args[2])
  if args[1] ~= "booking" then
    return -- availability: no request() at all, so wrk sends its one static GET
  end
  pairs_list = {}
  for line in io.lines(args[3]) do
    local token, provider = line:match("^(%S+)\t(%S+)$")
    pairs_list[#pairs_list + 1] = { "Bearer " .. token, provider }
  end
  service_id = args[4]
  first_epoch = tonumber(args[5])
  slots_per_day = tonumber(args[6])
  base_slot = tonumber(args[7])
  thread_count = tonumber(args[8])
  tag = args[9]
  request = booking_request
end

-- Kept to one comparison: defining response() makes wrk parse every response's headers.
function response(status)
  if status ~= expected then
    unexpected = unexpected + 1
    if first_unexpected == 0 then
      first_unexpected = status
    end
  end
end

function done(summary, latency, requests)
  local bad, first, highest = 0, 0, -1
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("unexpected")
    if first == 0 then
      first = thread:get("first_unexpected")
    end
    highest = math.max(highest, thread:get("last_slot"))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,'
      .. '"timeout":%d,"unexpected":%d,"first_unexpected":%d,"last_slot":%d,'
      .. '"p50_us":%.1f,"p95_us":%.1f,"p99_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, bad, first,
    highest, latency:percentile(50), latency:percentile(95), latency:percentile(99)
  ))
end
