-- Shared by every bench script: per-thread counters (status codes, body bytes, redirects,
-- wrong-size bodies) and a done() hook that prints one JSON line the TypeScript side parses,
-- instead of wrk's human text. wrk counts only status >= 400 as errors, so a 3xx loop would look
-- like success: we count every status and every body size ourselves.
--
-- Arguments (after `--` on the wrk command line), as key=value:
--   min_bytes=N / max_bytes=N  a body outside [N, M] counts as wrong-size (default 0 / unlimited)
--   threads=N                  wrk's -t (for the sequence scripts' striding)
--   header=Name:Value          extra request header (repeatable)

local report = {}

local threads = {}

function report.parse_args(args)
  local opts = { min_bytes = 0, max_bytes = math.huge, threads = 1, headers = {} }
  for _, a in ipairs(args or {}) do
    local k, v = string.match(a, "^([%w_]+)=(.*)$")
    if k == "header" then
      local name, value = string.match(v, "^([^:]+):%s*(.*)$")
      if name then opts.headers[name] = value end
    elseif k == "min_bytes" or k == "max_bytes" or k == "threads" then
      opts[k] = tonumber(v)
    elseif k then
      opts[k] = v
    end
  end
  return opts
end

-- Thread-local state (each wrk thread has its own Lua state; done() reads it via thread:get).
statuses = {}
body_bytes = 0
body_min = -1
body_max = 0
wrong_size = 0
responses = 0
repeats = 0

function report.install(opts)
  function response(status, headers, body)
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
    local n = 0
    if body then n = #body end
    body_bytes = body_bytes + n
    responses = responses + 1
    if body_min < 0 or n < body_min then body_min = n end
    if n > body_max then body_max = n end
    if n < opts.min_bytes or n > opts.max_bytes then wrong_size = wrong_size + 1 end
  end
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", #threads - 1)
end

local function json_value(v)
  local t = type(v)
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return string.format("%.17g", v)
  elseif t == "string" then
    return '"' .. string.gsub(v, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
  elseif t == "table" then
    local parts = {}
    for k, val in pairs(v) do
      table.insert(parts, json_value(tostring(k)) .. ":" .. json_value(val))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "boolean" then
    return tostring(v)
  end
  return "null"
end
report.json_value = json_value

function done(summary, latency, requests)
  -- Active time of sequence.lua's once=1 runs: from the first request of any thread to the last
  -- thread's end of list; 0 unless every thread ran out (then wrk's duration is the -d, not ours).
  local first, last, all_done = nil, 0, #threads > 0
  for _, t in ipairs(threads) do
    local f, l = t:get("first_us") or 0, t:get("last_us") or 0
    if l == 0 then all_done = false end
    if f > 0 and (first == nil or f < first) then first = f end
    if l > last then last = l end
  end
  local active_us = 0
  if all_done and first then active_us = last - first end
  local merged = { statuses = {}, body_bytes = 0, body_min = -1, body_max = 0, wrong_size = 0, responses = 0, repeats = 0 }
  for _, t in ipairs(threads) do
    local s = t:get("statuses") or {}
    for k, n in pairs(s) do merged.statuses[k] = (merged.statuses[k] or 0) + n end
    merged.body_bytes = merged.body_bytes + (t:get("body_bytes") or 0)
    merged.wrong_size = merged.wrong_size + (t:get("wrong_size") or 0)
    merged.responses = merged.responses + (t:get("responses") or 0)
    merged.repeats = merged.repeats + (t:get("repeats") or 0)
    local mn = t:get("body_min") or -1
    if mn >= 0 and (merged.body_min < 0 or mn < merged.body_min) then merged.body_min = mn end
    local mx = t:get("body_max") or 0
    if mx > merged.body_max then merged.body_max = mx end
  end
  local pct = {}
  for _, p in ipairs({ 50, 75, 90, 99, 99.9 }) do pct[tostring(p)] = latency:percentile(p) end
  local out = {
    duration_us = summary.duration,
    active_us = active_us,
    requests = summary.requests,
    bytes = summary.bytes,
    errors = {
      connect = summary.errors.connect, read = summary.errors.read, write = summary.errors.write,
      status = summary.errors.status, timeout = summary.errors.timeout,
    },
    latency_us = { min = latency.min, max = latency.max, mean = latency.mean, stdev = latency.stdev, percentiles = pct },
    statuses = merged.statuses,
    responses = merged.responses,
    body_bytes = merged.body_bytes,
    body_min = merged.body_min,
    body_max = merged.body_max,
    wrong_size = merged.wrong_size,
    repeats = merged.repeats,
  }
  io.write("BENCH_JSON " .. json_value(out) .. "\n")
end

return report
