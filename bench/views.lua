-- wrk script: POST a view of one comic per request, each as the next reader
-- of a token file (one token per line), so that no (reader, comic) pair
-- repeats and every view counts. The last argument is wrk's thread count:
-- thread k uses tokens k, k + threads, k + 2 threads, ...
--   wrk -t2 -c64 -d10s -s bench/views.lua <base>/api/v1/comics/<id>/views -- <token file> 2

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
  i = id
end

function request()
  if i >= #tokens then
    -- Out of readers: repeat ones (answered 202, not counted twice).
    i = i % #tokens
  end
  local token = tokens[i + 1]
  i = i + step
  return wrk.format("POST", nil, { ["Authorization"] = "Bearer " .. token }, nil)
end
