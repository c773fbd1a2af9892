-- wrk script for murmur's CRDT API. Selected by environment variables:
--   MURMUR_TYPE   = counter | set   (default counter)
--   MURMUR_KEYS   = key-space size  (default 1000)
--   MURMUR_QUERY  = query string, e.g. w=one (default none)
--   MURMUR_KEYED  = 1 to send a unique Idempotency-Key with every request (default 0)
local kind = os.getenv('MURMUR_TYPE') or 'counter'
local nkeys = tonumber(os.getenv('MURMUR_KEYS') or '1000')
local query = os.getenv('MURMUR_QUERY') or ''
local keyed = os.getenv('MURMUR_KEYED') == '1'
local suffix = (query == '') and '' or ('?' .. query)
local route = (kind == 'set') and 'sets' or 'counters'
local paths = {}
for i = 0, nkeys - 1 do
  -- Counters and sets use distinct keys: a key holds one type.
  paths[i] = string.format('/v1/%s/default/%s%%2F%08d%s', route, kind, i, suffix)
end

local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set('tid', nthreads)
end

local sequence = 0
function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
  sequence = sequence + 1
  local headers = { ['Content-Type'] = 'application/json' }
  if keyed then
    headers['Idempotency-Key'] = string.format('t%d-%d-%d', tid or 0, math.random(0, 1e9), sequence)
  end
  local body
  if kind == 'set' then
    body = string.format('{"add":["e%d"]}', math.random(0, 99))
  else
    body = '{"increment":1}'
  end
  return wrk.format('POST', paths[math.random(0, nkeys - 1)], headers, body)
end
