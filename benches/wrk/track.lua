-- wrk script: one realistic track event per request on /v1/track, each with a unique
-- messageId (thread id and a counter), 10,000 users. Pair with `cargo bench --bench load --
-- external`, which starts the relay with the write key used here.
--
--   wrk -t1 -c64 -d20s -s benches/wrk/track.lua http://127.0.0.1:PORT

local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_tag", "t" .. threads)
end

-- "load-write-key:" in base64.
wrk.method = "POST"
wrk.path = "/v1/track"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic bG9hZC13cml0ZS1rZXk6"

local template = '{"type":"track","event":"Order Completed","userId":"user_%d","anonymousId":"anon-%d",'
  .. '"messageId":"load-%s-%d","timestamp":"2024-06-01T10:00:00.000Z","properties":{"order_id":"o-%d",'
  .. '"total":99.5,"currency":"USD","shipped_at":"2024-06-02T08:00:00Z","items":[{"sku":"A-1","qty":2},'
  .. '{"sku":"B-7","qty":1}],"coupon":"SUMMER"},"context":{"ip":"203.0.113.9","library":{"name":'
  .. '"analytics-node","version":"3.1.0"},"userAgent":"Mozilla/5.0 (X11; Linux x86_64)"}}'

function request()
  counter = counter + 1
  local user = counter % 10000
  local body = string.format(template, user, user, thread_tag, counter, counter)
  return wrk.format(nil, nil, nil, body)
end
