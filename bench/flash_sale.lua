-- wrk script of bench/flash_sale.py: every request a new buyer asking for 1 ticket.
--
--   wrk -t T -c C -d Ns -s bench/flash_sale.lua URL -- TOKENS_FILE PATH BODY T
--
-- TOKENS_FILE holds one customer token a line (minted before the clock starts); thread i of T
-- takes lines i, i+T, i+2T, ... so no token is sent twice unless a thread runs out (counted as
-- "reused" and refused by flash_sale.py). The response hook counts every status; done() prints
-- one machine-readable line:
--   FLASH_SALE_RESULT duration_us=... requests=... reused=... errors=c/r/w/t status_201=... ...

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  table.insert(threads, thread)
  thread_count = thread_count + 1
end

function init(args)
  local file, every = args[1], tonumber(args[4])
  path, body = args[2], args[3]
  tokens = {}
  local line_number = 0
  for line in io.lines(file) do
    if line_number % every == id then
      tokens[#tokens + 1] = line
    end
    line_number = line_number + 1
  end
  next_token = 1
  reused = 0
  statuses = {}
end

function request()
  local token = tokens[next_token]
  next_token = next_token + 1
  if next_token > #tokens then
    next_token = 1
    reused = reused + 1
  end
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, response_body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  local reused_total = 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
    reused_total = reused_total + thread:get("reused")
  end
  local errors = summary.errors
  local line = string.format(
    "FLASH_SALE_RESULT duration_us=%d requests=%d reused=%d errors=%d/%d/%d/%d",
    summary.duration, summary.requests, reused_total,
    errors.connect, errors.read, errors.write, errors.timeout
  )
  for status, count in pairs(totals) do
    line = line .. string.format(" status_%d=%d", status, count)
  end
  io.write(line .. "\n")
end
