-- wrk script for scripts/benchmarks/http.py: cycles through the request paths in a file (one
-- per line) with a bearer token, then prints the latency summary as one JSON line.
local paths = {}
local next_path = 0

function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end

function request()
  next_path = (next_path % #paths) + 1
  return wrk.format("GET", paths[next_path])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"n": %d, "errors": %d, "p50": %.3f, "p95": %.3f, "p99": %.3f, "mean": %.3f, "rps": %.1f}\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.mean / 1000,
    summary.requests / (summary.duration / 1e6)))
end
