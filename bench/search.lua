-- wrk script for the catalog benchmark's title searches: each request a
-- GET /api/v1/comics?q=<term> with a term drawn at random from a file (one
-- term a line, UTF-8, URL-encoded here), and anything to append to the
-- query string. Counts the answers' X-Cache (hit, miss, stale) and prints
-- them at the end as `x_cache hit <n> miss <n> stale <n> none <n>`.
--   wrk -t2 -c16 -d10s --latency -s bench/search.lua <base> -- <terms> [&limit=20]

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

local function encode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function init(args)
  local extra = args[2] or ""
  paths = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = "/api/v1/comics?q=" .. encode(line) .. extra
    end
  end
  hit, miss, stale, none = 0, 0, 0, 0
  math.randomseed(os.time() + 7919 * id)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

function response(status, headers, body)
  local how = headers["x-cache"] or headers["X-Cache"]
  if how == "hit" then hit = hit + 1
  elseif how == "miss" then miss = miss + 1
  elseif how == "stale" then stale = stale + 1
  else none = none + 1 end
end

function done(summary, latency, requests)
  local n = { hit = 0, miss = 0, stale = 0, none = 0 }
  for _, t in ipairs(threads) do
    for k in pairs(n) do n[k] = n[k] + (t:get(k) or 0) end
  end
  io.write(string.format("x_cache hit %d miss %d stale %d none %d\n", n.hit, n.miss, n.stale, n.none))
end
