-- A precomputed sequence of paths from a file (one per line), written by the TypeScript side:
-- a Zipf sample for zipf-mix / read-write, distinct post pages for posts-cold. Thread k of n takes
-- entries k, k+n, k+2n, ... so threads never request the same entry; wrapping past the end counts
-- as a repeat (for posts-cold a repeat is no longer a first request, so the report shows it).
--
-- Extra arguments: paths=FILE (required), offset=N (start index, default 0).
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
local report = dofile(dir .. "report.lua")

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
end

function request()
  if index >= #paths then
    repeats = repeats + 1
  end
  local path = paths[(index % #paths) + 1]
  index = index + stride
  return wrk.format("GET", path, headers)
end
