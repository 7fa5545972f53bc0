-- wrk script: POST /v1/check (or /v1/check/batch with ROSTER_BATCH=N checks
-- per call) with bodies built from `roster generate --sample DIR`'s
-- checks.tsv (user_id, account_id, permission). Requests are prepared once
-- per thread and cycled, so wrk's own cost per request stays small.
local token = os.getenv("ROSTER_TOKEN")
local file = os.getenv("ROSTER_CHECKS")
local batch = tonumber(os.getenv("ROSTER_BATCH") or "0")
local reqs = {}
local i = 0

function init(args)
  local lines = {}
  for line in io.lines(file) do
    local u, a, p = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)")
    if u then
      lines[#lines + 1] = string.format('{"user_id":"%s","account_id":"%s","permission":"%s"}', u, a, p)
    end
    if #lines >= 50000 then break end
  end
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
  if batch > 0 then
    for s = 1, #lines - batch + 1, batch do
      local parts = {}
      for k = s, s + batch - 1 do parts[#parts + 1] = lines[k] end
      reqs[#reqs + 1] = wrk.format("POST", "/v1/check/batch", headers, '{"checks":[' .. table.concat(parts, ",") .. ']}')
      if #reqs >= 400 then break end
    end
  else
    for k = 1, #lines do
      reqs[#reqs + 1] = wrk.format("POST", "/v1/check", headers, lines[k])
    end
  end
  math.randomseed(os.time() + tonumber(tostring(args):match("0x(%x+)") or "0", 16))
  i = math.random(#reqs)
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
