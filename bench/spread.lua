-- wrk script for the live benchmark's spread writes: each request by a
-- random user (of a token file, one token per line) on a random comic (of
-- an ids file), every request a real change. Thread k of n draws only among
-- users u with u % n == k, so it knows their every earlier request:
--   rate:     PUT a rating, a score other than the user's last one there;
--   bookmark: PUT the bookmark if the user has none there, else DELETE it.
-- Arguments after `--`: the token file, the ids file, wrk's thread count and
-- the kind.
--   wrk -t2 -c64 -d10s --latency -s bench/spread.lua <base> -- <tokens> <ids> 2 rate

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local function lines(file)
  local out = {}
  for line in io.lines(file) do
    if #line > 0 then out[#out + 1] = line end
  end
  return out
end

function init(args)
  local tokens = lines(args[1])
  ids = lines(args[2])
  local step = tonumber(args[3])
  kind = args[4]
  auth = {}
  for u = id + 1, #tokens, step do
    auth[#auth + 1] = "Bearer " .. tokens[u]
  end
  state = {}
  math.randomseed(os.time() + 7919 * id)
end

function request()
  local u = math.random(#auth)
  local c = math.random(#ids)
  local key = u * #ids + c
  local last = state[key]
  if kind == "rate" then
    local score = last and (last % 10 + 1) or math.random(10)
    state[key] = score
    return wrk.format("PUT", "/api/v1/comics/" .. ids[c] .. "/rating", {
      ["Authorization"] = auth[u],
      ["Content-Type"] = "application/json",
    }, '{"score":' .. score .. '}')
  end
  state[key] = not last
  return wrk.format(last and "DELETE" or "PUT", "/api/v1/me/bookmarks/" .. ids[c], {
    ["Authorization"] = auth[u],
  }, nil)
end
