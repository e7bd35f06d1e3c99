-- wrk script for bench/webhook.py: one push per request, every MsgId distinct.
--
-- Usage: wrk ... -s bench/webhook.lua <url> -- MODE ARG NTHREADS EXPECT REJECT CONTENT EXTRA
--   MODE "text": ARG = a path, or "@" and a file of signed paths, one per line. The body is a
--                text message built per request: Content = CONTENT, MsgId = EXTRA ..
--                thread(2 digits) .. counter(9 digits), FromUserName from a pool of 500
--                openids per thread. A signed URL is bound to the first body it carries
--                (bot/webhook.py), so /wechat needs the file: thread t takes lines OFFSET+t,
--                OFFSET+t+NTHREADS, ... (OFFSET = 8th argument) and wraps around like "file".
--   MODE "file": ARG = file of pre-encrypted pushes, one per line "path<TAB>body"; thread t
--                sends lines EXTRA+t, EXTRA+t+NTHREADS, ... and wraps around (reporting it)
--                when the file runs out.
--   EXPECT: a substring every 200 answer must contain; REJECT: one it must not ("" = none).
-- done() prints one line "BENCH_JSON {...}" that bench/webhook.py parses ("most": the most
-- requests one thread sent, so the next run starts past every line used: OFFSET + most * NTHREADS).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  mode, arg, nthreads = args[1], args[2], tonumber(args[3])
  expect, reject, content, extra = args[4], args[5], args[6] or "", args[7] or "0"
  counter, bad, wrapped = 0, 0, 0
  headers = { ["Content-Type"] = "text/xml" }
  if mode == "text" and string.sub(arg, 1, 1) == "@" then
    offset = tonumber(args[8] or "0")
    paths = {}
    for line in io.lines(string.sub(arg, 2)) do
      table.insert(paths, line)
    end
    pool = #paths
  end
  if mode == "file" then
    offset = tonumber(extra)
    paths, bodies = {}, {}
    for line in io.lines(arg) do
      local tab = string.find(line, "\t", 1, true)
      table.insert(paths, string.sub(line, 1, tab - 1))
      table.insert(bodies, string.sub(line, tab + 1))
    end
    pool = #paths
  end
end

local function next_index()
  local index = offset + (tid - 1) + (counter - 1) * nthreads
  if index >= pool then
    wrapped = 1
  end
  return index % pool + 1
end

local function text_request()
  local path = arg
  if paths then
    path = paths[next_index()]
  end
  local openid = string.format("obench%02d%020d", tid, counter % 500)
  local msgid = string.format("%s%02d%09d", extra, tid, counter)
  local body = "<xml><ToUserName><![CDATA[gh_taoyuanjiemei]]></ToUserName>"
    .. "<FromUserName><![CDATA[" .. openid .. "]]></FromUserName>"
    .. "<CreateTime>" .. os.time() .. "</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    .. "<Content><![CDATA[" .. content .. "]]></Content><MsgId>" .. msgid .. "</MsgId></xml>"
  return wrk.format("POST", path, headers, body)
end

function request()
  counter = counter + 1
  if mode == "text" then
    return text_request()
  end
  local index = next_index()
  return wrk.format("POST", paths[index], headers, bodies[index])
end

function response(status, headers, body)
  if status == 200 then
    if not string.find(body, expect, 1, true)
       or (reject ~= "" and string.find(body, reject, 1, true)) then
      bad = bad + 1
    end
  end
end

function done(summary, latency, requests)
  local sent, unexpected, wrap, most = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    sent = sent + t:get("counter")
    most = math.max(most, t:get("counter"))
    unexpected = unexpected + t:get("bad")
    wrap = math.max(wrap, t:get("wrapped"))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "mean_us": %.1f, "connect": %d, "read": %d, "write": %d, "status": %d, '
      .. '"timeout": %d, "sent": %d, "most": %d, "unexpected": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status,
    e.timeout, sent, most, unexpected, wrap))
end
