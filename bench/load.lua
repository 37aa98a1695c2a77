-- wrk script for the write benchmarks: each request as the next user of a
-- token file (one token per line). Arguments after `--`: the token file,
-- wrk's thread count (thread k takes requests k, k + threads, ...), and
-- the kind of request:
--   view: POST a view of the URL's comic, each as a new reader (no pair
--         of reader and comic repeats, so every view counts);
--   rate: PUT a rating of the URL's comic, users round robin, a user's
--         score moving by one each round (every request a real change).
--   wrk -t2 -c64 -d10s -s bench/load.lua <base>/api/v1/comics/<id>/views -- <tokens> 2 view
--   wrk -t2 -c32 -d10s -s bench/load.lua <base>/api/v1/comics/<id>/rating -- <tokens> 2 rate

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  step = tonumber(args[2])
  kind = args[3]
  k = id
end

function request()
  local n = #tokens
  local user = k % n
  k = k + step
  local auth = "Bearer " .. tokens[user + 1]
  if kind == "rate" then
    local score = (user + math.floor((k - step) / n)) % 10 + 1
    return wrk.format("PUT", nil, {
      ["Authorization"] = auth,
      ["Content-Type"] = "application/json",
    }, '{"score":' .. score .. '}')
  end
  -- Past the last reader, readers repeat: answered 202, not counted again.
  return wrk.format("POST", nil, { ["Authorization"] = auth }, nil)
end
