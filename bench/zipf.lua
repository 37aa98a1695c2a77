-- wrk script for the live benchmark's reads: each request a GET of a comic
-- drawn from a Zipf distribution over the ids of a file (line k has rank k,
-- P(k) proportional to k^-s), sampled by binary search of a CDF table built
-- once per thread. Arguments after `--`: the ids file, s, and the kind:
--   detail: GET /api/v1/comics/{id}
--   stats:  GET /api/v1/comics/{id}/stats
--   wrk -t2 -c64 -d10s --latency -s bench/zipf.lua <base> -- <ids> 1 detail

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local s = tonumber(args[2])
  local suffix = (args[3] == "stats") and "/stats" or ""
  paths = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = "/api/v1/comics/" .. line .. suffix
    end
  end
  local total = 0
  for k = 1, #paths do
    total = total + k ^ -s
  end
  cdf = {}
  local acc = 0
  for k = 1, #paths do
    acc = acc + k ^ -s / total
    cdf[k] = acc
  end
  cdf[#paths] = 1
  math.randomseed(os.time() + 7919 * id)
end

-- The smallest k with cdf[k] >= u.
local function pick(u)
  local lo, hi = 1, #cdf
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

function request()
  return wrk.format("GET", paths[pick(math.random())])
end
