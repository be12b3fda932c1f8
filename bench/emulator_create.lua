-- wrk script for bench/local.sh: creates named HTTP-target tasks in local
-- mode's embedded Cloud Tasks, spread over the queues in QUEUES, each
-- targeting POST /jobs/ping on the same server with an OIDC token.
local port = os.getenv("BENCH_PORT")
local queues = {}
for q in string.gmatch(os.getenv("BENCH_QUEUES"), "[^,]+") do
  queues[#queues + 1] = q
end
local counter = 0
local prefix = ""
local threads = 0

-- setup() runs in the main script: each thread gets its own number.
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  prefix = string.format("%d-%d", tid, os.time())
end

function request()
  counter = counter + 1
  local q = queues[(counter % #queues) + 1]
  local id = string.format("b%s-%d", prefix, counter)
  local body = string.format(
    '{"task":{"name":"projects/local/locations/local/queues/%s/tasks/%s",' ..
    '"httpRequest":{"url":"http://127.0.0.1:%s/jobs/ping","httpMethod":"POST",' ..
    '"body":"e30=","oidcToken":{"serviceAccountEmail":"local-tasks@catchup-jobs.local",' ..
    '"audience":"http://127.0.0.1:%s"}}}}', q, id, port, port)
  return wrk.format("POST", "/v2/projects/local/locations/local/queues/" .. q .. "/tasks",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer bench"}, body)
end
