-- One URL (wrk's own), optional extra headers, body-size bounds. Used by static, health and the
-- home scenarios. No request() function: wrk builds the request once (the fast path).
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
local report = dofile(dir .. "report.lua")

function init(args)
  local opts = report.parse_args(args)
  for name, value in pairs(opts.headers) do wrk.headers[name] = value end
  report.install(opts)
end
