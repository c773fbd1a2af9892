/**
 * Goal: the OpenAPI document describes exactly the routes a node serves, so the two cannot
 * drift: every route the node's app registers is matched by an operation of the document and
 * every operation is served by a registered route; the document is valid OpenAPI 3.1 in shape,
 * and `/openapi.json` and `/docs` serve it. Method: boot one real MurmurNode in memory (virtual
 * clock, in-memory storage and network, fault injection on so the debug routes exist), read
 * the routes hono registered, and match each side against the other with concrete sample paths.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { renderDocsPage } from '../../../src/api/openapi/docs-page.js'
import { buildOpenApiDocument } from '../../../src/api/openapi/document.js'
import { ROUTES, type RouteSpec } from '../../../src/api/openapi/spec.js'
import { parseConfig } from '../../../src/config/load.js'
import { createLogger } from '../../../src/env/log.js'
import { PeerFaults } from '../../../src/runtime/faults.js'
import { MemoryNetwork } from '../../../src/runtime/memory-network.js'
import { MurmurNode } from '../../../src/runtime/node.js'
import { MemoryDisk, MemoryEngine } from '../../../src/storage/memory.js'
import { NetworkFaults } from '../../sim/faults.js'
import { SimPacketNetwork } from '../../sim/packet-network.js'
import { Simulation } from '../../sim/simulation.js'

const CONFIG = `
cluster: { name: openapi }
nodes:
  - { id: n1, host: 127.0.0.1, httpPort: 7001, peerPort: 7101 }
keyspaces:
  default: { replicas: 1 }
  strong: { mode: strong, replicas: 1 }
log: { level: error }
`

interface Registered {
  readonly method: string
  readonly path: string
}

let node: MurmurNode
let registered: Registered[]

beforeAll(async () => {
  const sim = new Simulation(1)
  const config = parseConfig(CONFIG)
  const network = new MemoryNetwork({ clock: sim.clock() })
  const packets = new SimPacketNetwork(sim, new NetworkFaults(sim.random.fork('faults')))
  node = await MurmurNode.open(config, 'n1', {
    clock: sim.clock(),
    random: sim.random.fork('node'),
    storage: new MemoryEngine(new MemoryDisk()),
    storageLocation: '<memory>',
    peers: network.transport('n1'),
    packets: packets.transport('127.0.0.1:7101'),
    log: createLogger('error', () => {}),
    faults: new PeerFaults(() => undefined),
  })
  // Middleware (app.use) is registered for every method on a catch-all path; it is no route.
  registered = node.app.routes
    .filter((route) => !(route.method === 'ALL' && (route.path === '/*' || route.path === '*')))
    .map((route) => ({ method: route.method, path: route.path }))
})

afterAll(async () => {
  node.membership.stop()
  node.kv.stop()
  node.strong.stop()
  await node.env.peers.close()
  await node.env.packets.close()
})

/** A concrete path for an operation: every `{parameter}` replaced by a sample segment. */
function samplePath(route: RouteSpec): string {
  return route.path.replaceAll(/\{[^}]+\}/g, 'sample')
}

/** Whether a hono route pattern (`:name` segments, `*` wildcards) matches a concrete path. */
function patternMatches(pattern: string, path: string): boolean {
  const source = pattern
    .split('/')
    .map((segment) =>
      segment === '*'
        ? '.*'
        : segment.startsWith(':')
          ? '[^/]+'
          : segment.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/')
  return new RegExp(`^${source}$`).test(path)
}

function serves(route: Registered, spec: RouteSpec): boolean {
  const methodMatches = route.method === 'ALL' || route.method === spec.method.toUpperCase()
  return methodMatches && patternMatches(route.path, samplePath(spec))
}

describe('the OpenAPI document and the registered routes', () => {
  it('registers routes at all (the comparison below is not vacuous)', () => {
    expect(registered.length).toBeGreaterThanOrEqual(10)
    expect(ROUTES.length).toBeGreaterThanOrEqual(15)
  })

  it('every registered route appears in the document', () => {
    const undocumented = registered.filter((route) => !ROUTES.some((spec) => serves(route, spec)))
    expect(undocumented, 'add these routes to src/api/openapi/spec.ts').toEqual([])
  })

  it('every documented operation is served by a registered route', () => {
    const unserved = ROUTES.filter((spec) => !registered.some((route) => serves(route, spec)))
    expect(
      unserved.map((spec) => `${spec.method.toUpperCase()} ${spec.path}`),
      'remove these from src/api/openapi/spec.ts or register them',
    ).toEqual([])
  })

  it('operation ids are unique and every method/path pair appears once', () => {
    const ids = ROUTES.map((spec) => spec.operationId)
    expect(new Set(ids).size).toBe(ids.length)
    const pairs = ROUTES.map((spec) => `${spec.method} ${spec.path}`)
    expect(new Set(pairs).size).toBe(pairs.length)
  })

  it('every path parameter of a template is declared, and nothing else is', () => {
    for (const spec of ROUTES) {
      const inTemplate = [...spec.path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]).sort()
      const declared = Object.keys(spec.pathParameters?.shape ?? {}).sort()
      expect(declared, spec.operationId).toEqual(inTemplate)
    }
  })
})

describe('the generated document', () => {
  const document = buildOpenApiDocument()
  const paths = document['paths'] as Record<string, Record<string, Record<string, unknown>>>

  it('is OpenAPI 3.1 with every operation, its parameters and its error statuses', () => {
    expect(document['openapi']).toBe('3.1.0')
    const operations = Object.values(paths).flatMap((item) => Object.values(item))
    expect(operations).toHaveLength(ROUTES.length)
    const put = paths['/v1/kv/{keyspace}/{key}']?.['put'] ?? {}
    const names = (put['parameters'] as { name: string; in: string }[]).map(
      (parameter) => `${parameter.in}:${parameter.name}`,
    )
    expect(names).toEqual(
      expect.arrayContaining(['path:keyspace', 'path:key', 'query:w', 'header:If-Match']),
    )
    const responses = put['responses'] as Record<string, { 'x-murmur-error-codes'?: string[] }>
    expect(responses['412']?.['x-murmur-error-codes']).toEqual(['precondition_failed'])
    expect(responses['503']?.['x-murmur-error-codes']).toContain('quorum_unavailable')
    expect(Object.keys(responses)).toContain('204')
  })

  it('turns zod bounds into JSON Schema', () => {
    const acquire = paths['/v1/locks/{name}']?.['post']
    const body = acquire?.['requestBody'] as {
      content: Record<string, { schema: Record<string, unknown> }>
    }
    expect(body.content['application/json']?.schema).toMatchObject({
      type: 'object',
      required: ['ttlMs'],
      properties: { ttlMs: { type: 'integer', minimum: 1, maximum: 86_400_000 } },
      additionalProperties: false,
    })
  })

  it('renders a self-contained page that escapes what it shows', () => {
    const page = renderDocsPage(document)
    expect(page).toContain('<!doctype html>')
    expect(page).not.toMatch(/<script|src="http|href="http/)
    for (const spec of ROUTES) expect(page).toContain(`id="${spec.operationId}"`)
    const hostile = renderDocsPage({ info: { title: '<script>x</script>' }, tags: [], paths: {} })
    expect(hostile).not.toContain('<script>')
    expect(hostile).toContain('&lt;script&gt;')
  })
})

describe('the routes that serve it', () => {
  it('GET /openapi.json answers the document and GET /docs the page', async () => {
    const json = await node.app.request('/openapi.json')
    expect(json.status).toBe(200)
    expect(json.headers.get('content-type')).toMatch(/application\/json/)
    expect(await json.json()).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument())))
    const page = await node.app.request('/docs')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/text\/html/)
    expect(await page.text()).toContain('/v1/locks/{name}')
  })
})
