-- wrk script: POST /jobs/ping with a valid token and a unique task name per
-- request, so every request verifies a token, claims and completes a key.
-- TOKENS_FILE holds one token per line; they are used in turn.
local tokens = {}
local counter = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function init(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    tokens[#tokens + 1] = line
  end
  math.randomseed(os.time() + (tid or 0))
  prefix = string.format("b%d-%d-%d", tid or 0, os.time(), math.random(1, 1000000000))
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  return wrk.format("POST", "/jobs/ping", {
    ["Authorization"] = "Bearer " .. token,
    ["X-CloudTasks-QueueName"] = "ping-queue",
    ["X-CloudTasks-TaskName"] = prefix .. "-" .. counter,
    ["X-CloudTasks-TaskRetryCount"] = "0",
    ["User-Agent"] = "Google-Cloud-Tasks",
  }, "{}")
end

local non200 = 0
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("requests=%d non2xx_or_errors=%d p50_us=%d p99_us=%d rps=%.0f\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, latency:percentile(50),
    latency:percentile(99), summary.requests / (summary.duration / 1e6)))
end
