-- wrk script: PUT a rating of one comic per request, users taken round robin
-- from a token file (one token per line); a user's score moves by one on
-- each round, so every request after the first round is a real change.
-- The last argument is wrk's thread count: thread k uses requests k,
-- k + threads, k + 2 threads, ...
--   wrk -t2 -c32 -d10s -s bench/ratings.lua <base>/api/v1/comics/<id>/rating -- <token file> 2

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
  k = id
end

function request()
  local n = #tokens
  local user = k % n
  local round = math.floor(k / n)
  local score = (user + round) % 10 + 1
  k = k + step
  return wrk.format("PUT", nil, {
    ["Authorization"] = "Bearer " .. tokens[user + 1],
    ["Content-Type"] = "application/json",
  }, '{"score":' .. score .. '}')
end
