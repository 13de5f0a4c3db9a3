-- One wrk script for every HTTP scenario, chosen by BENCH_SCENARIO.
-- Ids are drawn from the seeded ranges; created e-mails are unique per run
-- (BENCH_TAG) and per thread. `done` prints one JSON line for bench.py.
local scenario = os.getenv("BENCH_SCENARIO")
local users = tonumber(os.getenv("BENCH_USERS") or "10000")
local orders = tonumber(os.getenv("BENCH_ORDERS") or "5000")
local tag = os.getenv("BENCH_TAG") or "x"
local cursor = os.getenv("BENCH_CURSOR") or ""
local json = { ["Content-Type"] = "application/json" }
-- "Bearer <key>" when the target serves with an API key.
local authorization = os.getenv("BENCH_AUTHORIZATION") or ""
if authorization ~= "" then
  wrk.headers["Authorization"] = authorization
  json["Authorization"] = authorization
end

local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid * 7919)
end

request = function()
  if scenario == "get_user" then
    return wrk.format("GET", "/api/v1/users/" .. math.random(1, users))
  elseif scenario == "create_user" then
    counter = counter + 1
    local body = string.format('{"email":"b-%s-%d-%d@example.com","name":"Bench User"}', tag, tid, counter)
    return wrk.format("POST", "/api/v1/users", json, body)
  elseif scenario == "update_user" then
    local body = string.format('{"name":"Renamed %d"}', math.random(1, 1000000))
    return wrk.format("PUT", "/api/v1/users/" .. math.random(1, users), json, body)
  elseif scenario == "list_users" then
    if cursor == "" then
      return wrk.format("GET", "/api/v1/users?limit=50")
    end
    return wrk.format("GET", "/api/v1/users?limit=50&after=" .. cursor)
  elseif scenario == "create_order" then
    local body = string.format(
      '{"user_id":%d,"items":[{"sku":"BOOK-1","quantity":2,"unit_price":1250},' ..
      '{"sku":"PEN-2","quantity":1,"unit_price":199},{"sku":"INK-3","quantity":5,"unit_price":75}]}',
      math.random(1, users))
    return wrk.format("POST", "/api/v1/orders", json, body)
  elseif scenario == "get_order" then
    return wrk.format("GET", "/api/v1/orders/" .. math.random(1, orders))
  end
  error("unknown BENCH_SCENARIO " .. tostring(scenario))
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
