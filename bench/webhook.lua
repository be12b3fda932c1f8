-- wrk script: Calendar pushes on one channel, as Google sends them (empty
-- body, channel id and token, "exists", a message number that grows), so
-- every request authenticates the channel and takes the coalescing path.
-- Numbers interleave between the two threads (counter * 2 + thread), so a
-- push that arrives after a newer one from the other thread is a replay.
-- CHANNEL_ID and CHANNEL_TOKEN name the channel.
local counter = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function init(args)
  me = tid or 1
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/webhooks/google-calendar", {
    ["X-Goog-Channel-ID"] = os.getenv("CHANNEL_ID"),
    ["X-Goog-Channel-Token"] = os.getenv("CHANNEL_TOKEN"),
    ["X-Goog-Resource-State"] = "exists",
    ["X-Goog-Resource-ID"] = "bench-resource",
    ["X-Goog-Message-Number"] = tostring(counter * 2 + me),
    ["User-Agent"] = "APIs-Google",
  }, "")
end
