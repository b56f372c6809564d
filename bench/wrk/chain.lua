-- chain.lua: a wrk script that chains rotated refresh tokens (Tessera issue 7).
--
-- Each wrk thread owns one refresh-token family and posts
--   grant_type=refresh_token&refresh_token=<current>&client_id=...&client_secret=...
-- as a form body (client_secret_post); the refresh_token in each 200 response is the token
-- the next request sends. A chain is strictly sequential, so run ONE CONNECTION PER THREAD:
--   wrk -t N -c N -d 10s -s bench/wrk/chain.lua http://127.0.0.1:PORT
-- (with more connections than threads, the connections of a thread would share one chain and
-- race on the same token, and the server would rightly treat that as reuse).
--
-- Environment:
--   CHAIN_TOKENS         path of the tokens file, one refresh token per line (required)
--   CHAIN_CLIENT_ID      client_id     (default bench-client)
--   CHAIN_CLIENT_SECRET  client_secret (default bench-secret-0123456789abcdef0123456789abcdef)
--   CHAIN_PATH           token endpoint path (default /oauth/token; the peer's is /token)
--   CHAIN_OFFSET         skip this many lines of the file first (default 0), so that runs
--                        one after another against the same seeded server use unspent families
--   CHAIN_SPARES         spare tokens per thread (default 0). Thread i (0-based) takes lines
--                        O+i*(1+S)+1 .. O+(i+1)*(1+S) of the file: the first starts its chain, the
--                        others replace it, in order, when a response other than 200 or 429
--                        breaks the chain. With no spare left the thread keeps sending its
--                        dead token; those requests are counted apart ("on a dead chain").
--   CHAIN_VERBOSE        1: print the first few non-200 bodies to stderr
--   CHAIN_TIMELINE       1: done() also prints chained exchanges per wall-clock second
--
-- When wrk stops, each connection's last request may still be in flight: the server rotates
-- that token but the response is never read, so the families a run used are spent (a later
-- run that sent their tokens again would be reusing them). Give every run unspent families,
-- e.g. with CHAIN_OFFSET.
--
-- done() prints: chained exchanges (200 with a refresh_token), their rate over wrk's own
-- duration, every non-200 by status and OAuth `error`, 200s without a refresh_token, chain
-- breaks and requests on dead chains. wrk's "Requests/sec" counts every response, so read
-- "exchanges/s" when anything failed.

local env = os.getenv

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

-- ---------------------------------------------------------------- setup (main Lua state)

local threads = {}
local tokens = nil

local function load_tokens()
  local file = env("CHAIN_TOKENS")
  if not file or file == "" then
    error("chain.lua: set CHAIN_TOKENS to the tokens file (one refresh token per line)")
  end
  local fh, err = io.open(file, "r")
  if not fh then error("chain.lua: cannot open CHAIN_TOKENS: " .. tostring(err)) end
  local list = {}
  for line in fh:lines() do
    line = line:gsub("%s+$", ""):gsub("^%s+", "")
    if line ~= "" then list[#list + 1] = line end
  end
  fh:close()
  return list
end

function setup(thread)
  if not tokens then tokens = load_tokens() end
  local spares = tonumber(env("CHAIN_SPARES") or "0") or 0
  local block = 1 + spares
  local offset = tonumber(env("CHAIN_OFFSET") or "0") or 0
  local id = #threads
  local first = offset + id * block + 1
  if first > #tokens then
    error(string.format("chain.lua: thread %d needs token line %d but %s has only %d tokens",
      id + 1, first, env("CHAIN_TOKENS"), #tokens))
  end
  local mine = {}
  for i = first, math.min(first + block - 1, #tokens) do mine[#mine + 1] = tokens[i] end
  thread:set("chain_id", id)
  thread:set("chain_tokens", table.concat(mine, "\n"))
  threads[#threads + 1] = thread
end

-- ---------------------------------------------------------------- running (one state per thread)

local queue = {}      -- this thread's tokens, current first
local current = nil
local prefix, suffix  -- the fixed parts of the form body
local path, headers
local verbose = 0

ok = 0                -- 200 with a refresh_token: one chained exchange
no_token = 0          -- 200 without a refresh_token (the chain cannot go on)
breaks = 0            -- times this thread's chain broke (non-200 other than 429, or no_token)
dead = 0              -- requests sent on a dead chain (no spare left)
is_dead = false
statuses = ""         -- "status error=count;..." serialised for done()
local counts = {}
timeline = ""         -- "epoch_second=count;..." of chained exchanges, when CHAIN_TIMELINE=1
local tl_on, tl_sec, tl_n, tl_parts = false, 0, 0, {}

function init(args)
  for t in (chain_tokens or ""):gmatch("[^\n]+") do queue[#queue + 1] = t end
  current = table.remove(queue, 1)
  local cid = env("CHAIN_CLIENT_ID") or "bench-client"
  local secret = env("CHAIN_CLIENT_SECRET") or "bench-secret-0123456789abcdef0123456789abcdef"
  prefix = "grant_type=refresh_token&refresh_token="
  suffix = "&client_id=" .. urlencode(cid) .. "&client_secret=" .. urlencode(secret)
  path = env("CHAIN_PATH") or "/oauth/token"
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Accept"] = "application/json",
  }
  verbose = (env("CHAIN_VERBOSE") == "1") and 5 or 0
  tl_on = env("CHAIN_TIMELINE") == "1"
end

local function tick()
  local now = os.time()
  if now ~= tl_sec then
    if tl_n > 0 then
      tl_parts[#tl_parts + 1] = tl_sec .. "=" .. tl_n
      timeline = table.concat(tl_parts, ";")
    end
    tl_sec, tl_n = now, 0
  end
  tl_n = tl_n + 1
  -- the current second is published as it goes, so done() sees it too
  if tl_n % 50 == 0 then timeline = table.concat(tl_parts, ";") .. ";" .. tl_sec .. "=" .. tl_n end
end

function request()
  return wrk.format("POST", path, headers, prefix .. urlencode(current) .. suffix)
end

local function count(key)
  counts[key] = (counts[key] or 0) + 1
  local parts = {}
  for k, v in pairs(counts) do parts[#parts + 1] = k .. "=" .. v end
  statuses = table.concat(parts, ";")
end

local function next_chain()
  breaks = breaks + 1
  if #queue > 0 then
    current = table.remove(queue, 1)
  else
    is_dead = true
  end
end

function response(status, headers, body)
  if is_dead then dead = dead + 1 end
  if status == 200 then
    local rt = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if rt then
      if not is_dead then
        ok = ok + 1
        if tl_on then tick() end
      end
      current = rt
    else
      no_token = no_token + 1
      count("200 without refresh_token")
      if not is_dead then next_chain() end
    end
    return
  end
  local err = body and body:match('"error"%s*:%s*"([^"]+)"') or "-"
  count(status .. " " .. err)
  if verbose > 0 then
    verbose = verbose - 1
    io.stderr:write(string.format("chain %d: %d %s\n", chain_id, status, body or ""))
  end
  -- 429: rate limited, the token was not spent; anything else ends this chain.
  if status ~= 429 and not is_dead then next_chain() end
end

-- ---------------------------------------------------------------- done (main Lua state)

function done(summary, latency, requests)
  local total_ok, total_no, total_breaks, total_dead = 0, 0, 0, 0
  local merged = {}
  for _, t in ipairs(threads) do
    total_ok = total_ok + (t:get("ok") or 0)
    total_no = total_no + (t:get("no_token") or 0)
    total_breaks = total_breaks + (t:get("breaks") or 0)
    total_dead = total_dead + (t:get("dead") or 0)
    for k, v in (t:get("statuses") or ""):gmatch("([^=;]+)=(%d+)") do
      merged[k] = (merged[k] or 0) + tonumber(v)
    end
  end
  local secs = summary.duration / 1e6
  io.write("------ chain.lua\n")
  io.write(string.format("chains: %d (one per thread)\n", #threads))
  io.write(string.format("chained exchanges: %d in %.2fs = %.1f exchanges/s\n",
    total_ok, secs, total_ok / secs))
  io.write(string.format("latency (all responses): p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  local keys = {}
  for k in pairs(merged) do keys[#keys + 1] = k end
  table.sort(keys)
  if #keys == 0 then
    io.write("non-200: none\n")
  else
    io.write("non-200 (status error: count):\n")
    for _, k in ipairs(keys) do io.write(string.format("  %s: %d\n", k, merged[k])) end
  end
  io.write(string.format("chain breaks: %d; requests on dead chains: %d\n", total_breaks, total_dead))
  if env("CHAIN_TIMELINE") == "1" then
    local per = {}
    for _, t in ipairs(threads) do
      for sec, n in (t:get("timeline") or ""):gmatch("(%d+)=(%d+)") do
        sec = tonumber(sec)
        per[sec] = (per[sec] or 0) + tonumber(n)
      end
    end
    local secs_list = {}
    for sec in pairs(per) do secs_list[#secs_list + 1] = sec end
    table.sort(secs_list)
    io.write("chained exchanges per second (first and last seconds are partial; the tail of\n")
    io.write("each thread's last second is rounded down to a multiple of 50):\n ")
    for _, sec in ipairs(secs_list) do io.write(" ", per[sec]) end
    io.write("\n")
  end
  local e = summary.errors
  io.write(string.format("socket errors: connect %d, read %d, write %d, timeout %d\n",
    e.connect, e.read, e.write, e.timeout))
end
