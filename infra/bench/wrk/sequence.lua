-- A precomputed sequence of paths from a file (one per line), written by the TypeScript side:
-- a Zipf sample for zipf-mix / read-write, distinct post pages for posts-cold. Thread k of n takes
-- entries k, k+n, k+2n, ... so threads never request the same entry; wrapping past the end counts
-- as a repeat (for posts-cold a repeat is no longer a first request, so the report shows it).
--
-- Extra arguments: paths=FILE (required), offset=N (start index, default 0), once=1 (a thread stops
-- once it has requested every entry of its stride: posts-cold must not re-request a post; requests
-- already in flight then still complete and count as repeats; wrk itself ends on the runner's SIGINT).
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
local report = dofile(dir .. "report.lua")

-- Wall clock in µs through LuaJIT's FFI (wrk's Lua has no other wall clock): with once=1 the run
-- ends when the list is exhausted, before wrk's -d, so req/s must use the active time.
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

first_us = 0
last_us = 0

local paths = {}
local index = 0
local stride = 1
local headers = {}

function init(args)
  local opts = report.parse_args(args)
  assert(opts.paths, "sequence.lua: paths=FILE is required")
  for line in io.lines(opts.paths) do
    if #line > 0 then table.insert(paths, line) end
  end
  assert(#paths > 0, "sequence.lua: " .. opts.paths .. " has no paths")
  stride = math.max(1, opts.threads)
  index = (tonumber(opts.offset) or 0) + (thread_index or 0)
  headers = opts.headers
  report.install(opts)
  if opts.once == "1" then
    local count_response = response
    response = function(status, hdrs, body)
      count_response(status, hdrs, body)
      if index >= #paths and last_us == 0 then
        last_us = now_us()
        wrk.thread:stop()
        -- wrk's main thread sleeps for the whole -d whatever its threads do: this line tells the
        -- runner (wrk-runner.ts), which sends SIGINT once every thread said it (wrk then reports).
        io.stderr:write("sequence-exhausted\n")
        io.stderr:flush()
      end
    end
  end
end

function request()
  if first_us == 0 then first_us = now_us() end
  if index >= #paths then
    repeats = repeats + 1
  end
  local path = paths[(index % #paths) + 1]
  index = index + stride
  return wrk.format("GET", path, headers)
end
