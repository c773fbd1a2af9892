-- wrk script for murmur's /v1/kv API, keys spread over a key space (the shape of
-- /work/shared/anchors/etcd/kv.lua). Selected by environment variables:
--   MURMUR_OP       = put | get        (default put)
--   MURMUR_FRESH    = 1 makes every put write a fresh key (bench/new-<run>-<thread>-<n>): in
--                     an eventual keyspace a PUT without a context on a key that holds a
--                     value becomes its sibling, so overwriting the same keys blindly would
--                     grow every key's siblings run after run
--   MURMUR_KEYS     = key-space size   (default 10000)
--   MURMUR_VLEN     = value bytes      (default 100)
--   MURMUR_QUERY    = query string, e.g. r=one (default none)
--   MURMUR_KEYSPACE = keyspace         (default default)
--   MURMUR_TARGETS  = host:port,host:port,... (default: the URL's host) -- thread i sends to
--                     target i modulo the list, so run wrk with one thread per target to
--                     spread connections evenly over the nodes of a cluster
local op = os.getenv('MURMUR_OP') or 'put'
local nkeys = tonumber(os.getenv('MURMUR_KEYS') or '10000')
local vlen = tonumber(os.getenv('MURMUR_VLEN') or '100')
local query = os.getenv('MURMUR_QUERY') or ''
local keyspace = os.getenv('MURMUR_KEYSPACE') or 'default'
local value = string.rep('v', vlen)
local suffix = (query == '') and '' or ('?' .. query)
local paths = {}
for i = 0, nkeys - 1 do
  paths[i] = string.format('/v1/kv/%s/bench%%2F%08d%s', keyspace, i, suffix)
end

local targets = {}
for host, port in string.gmatch(os.getenv('MURMUR_TARGETS') or '', '([^,:]+):(%d+)') do
  targets[#targets + 1] = { host = host, port = port }
end

local fresh = os.getenv('MURMUR_FRESH') == '1'
local written = 0
local nonce = 0

local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set('tid', nthreads)
  if #targets > 0 then
    local target = targets[(nthreads - 1) % #targets + 1]
    thread.addr = wrk.lookup(target.host, target.port)[1]
  end
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
  -- Runs of the same scenario write distinct keys too.
  nonce = math.random(0, 2147483647)
end

function request()
  if op == 'put' then
    local path = paths[math.random(0, nkeys - 1)]
    if fresh then
      written = written + 1
      path = string.format('/v1/kv/%s/bench%%2Fnew-%d-%d-%d%s', keyspace, nonce, tid or 0, written, suffix)
    end
    return wrk.format('PUT', path, { ['Content-Type'] = 'application/octet-stream' }, value)
  end
  return wrk.format('GET', paths[math.random(0, nkeys - 1)])
end
