/**
 * Goal: request metrics label every request by route pattern, keyspace and level from bounded
 * sets whatever the client sends, count each request once with its status, time it, and count
 * quorum failures from the error the route raised. Method: label functions on fixed and
 * generated (fast-check) paths and queries; the middleware in a hono app built with
 * createApp, driven in-process, its registry read back through the Prometheus text reader.
 */

import fc from 'fast-check'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createApp } from '../../../src/api/app.js'
import { MurmurError } from '../../../src/env/errors.js'
import { silentLogger } from '../../../src/env/log.js'
import {
  levelLabel,
  RequestMetrics,
  requestLabels,
  UNMATCHED_ROUTE,
} from '../../../src/metrics/http.js'
import { parsePrometheusText, sumOf } from './prometheus.js'

const KEYSPACES = new Set(['default', 'strong'])

describe('request labels', () => {
  it('tells keys from listings and reads the keyspace and level', () => {
    expect(requestLabels('GET', '/v1/kv/default/a/b', 'r=quorum', '/v1/kv/*', KEYSPACES)).toEqual({
      method: 'GET',
      route: '/v1/kv/:keyspace/:key',
      keyspace: 'default',
      level: 'quorum',
    })
    expect(
      requestLabels('PUT', '/v1/kv/default/k', 'w=2&timeout=5', '/v1/kv/*', KEYSPACES),
    ).toEqual({ method: 'PUT', route: '/v1/kv/:keyspace/:key', keyspace: 'default', level: '2' })
    expect(requestLabels('GET', '/v1/sets/default', 'limit=3', '/v1/sets/*', KEYSPACES)).toEqual({
      method: 'GET',
      route: '/v1/sets/:keyspace',
      keyspace: 'default',
      level: 'none',
    })
    expect(requestLabels('GET', '/v1/kv/secret-x/k', '', '/v1/kv/*', KEYSPACES).keyspace).toBe(
      'other',
    )
  })

  it('keeps fixed routes and folds unmatched paths into one label', () => {
    expect(requestLabels('POST', '/v1/locks/a', '', '/v1/locks/:name', KEYSPACES).route).toBe(
      '/v1/locks/:name',
    )
    expect(requestLabels('GET', '/random/123', '', '/*', KEYSPACES).route).toBe(UNMATCHED_ROUTE)
    expect(requestLabels('BREW', '/x', '', '/*', KEYSPACES).method).toBe('other')
  })

  it('prefers r or w over the consistency shorthand and refuses unknown levels', () => {
    expect(levelLabel('consistency=ALL&r=one', 'r')).toBe('one')
    expect(levelLabel('consistency=All', 'r')).toBe('all')
    expect(levelLabel('consistency=serializable', 'r')).toBe('serializable')
    expect(levelLabel('w=3', 'r')).toBe('default')
    expect(levelLabel('r=8', 'r')).toBe('invalid')
    expect(levelLabel('r=%71uorum', 'r')).toBe('invalid')
  })

  it('draws every label from a bounded set, whatever the path and query', () => {
    const allowedLevels = new Set([
      ...['one', 'two', 'three', 'quorum', 'all', '1', '2', '3', '4', '5', '6', '7'],
      ...['linearizable', 'serializable', 'default', 'invalid', 'none'],
    ])
    const routes = ['/v1/kv/*', '/v1/counters/*', '/*', '/health', '/v1/locks/:name']
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.constantFrom(...routes),
        fc.constantFrom('GET', 'PUT', 'DELETE', 'X'),
        (path, query, route, method) => {
          const labels = requestLabels(method, `/v1/kv/${path}`, query, route, KEYSPACES)
          expect(['default', 'strong', 'other', 'none']).toContain(labels.keyspace)
          expect(allowedLevels.has(labels.level)).toBe(true)
          expect(['GET', 'PUT', 'DELETE', 'other']).toContain(labels.method)
          expect(labels.route.length).toBeLessThanOrEqual(32)
        },
      ),
    )
  })
})

function instrumentedApp() {
  const registry = new Registry()
  let nowMs = 0
  const metrics = new RequestMetrics({ registry, keyspaces: ['default'], nowMs: () => nowMs })
  const app = createApp({
    requestBodyBytesMax: 1024,
    log: silentLogger,
    observe: metrics.middleware,
    routes: [
      (routes) => {
        routes.get('/health', (c) => c.json({ ok: true }))
        routes.all('/v1/kv/*', (c) => {
          nowMs += 30
          if (c.req.method === 'DELETE') {
            throw new MurmurError('quorum_unavailable', 'need 2', { definite: true })
          }
          return c.body(null, 204)
        })
      },
    ],
  })
  return { app, registry }
}

describe('request middleware', () => {
  it('counts and times every request once, by route, status and level', async () => {
    const { app, registry } = instrumentedApp()
    for (let index = 0; index < 5; index++)
      await app.request('/v1/kv/default/k?w=one', { method: 'PUT' })
    await app.request('/health')
    await app.request('/no/such/route')
    await app.request('/v1/kv/default/big', {
      method: 'PUT',
      body: 'x'.repeat(2000),
      headers: { 'content-length': '2000' },
    })
    const families = parsePrometheusText(await registry.metrics())
    const kv = { method: 'PUT', route: '/v1/kv/:keyspace/:key', keyspace: 'default', level: 'one' }
    expect(sumOf(families, 'murmur_http_requests_total', { ...kv, status: '204' })).toBe(5)
    expect(sumOf(families, 'murmur_http_request_duration_seconds_count', kv)).toBe(5)
    expect(sumOf(families, 'murmur_http_request_duration_seconds_sum', kv)).toBeCloseTo(0.15)
    // 30 ms each: every observation falls in the 0.05 s bucket, none in the 0.025 s one.
    expect(
      sumOf(families, 'murmur_http_request_duration_seconds_bucket', { ...kv, le: '0.025' }),
    ).toBe(0)
    expect(
      sumOf(families, 'murmur_http_request_duration_seconds_bucket', { ...kv, le: '0.05' }),
    ).toBe(5)
    expect(sumOf(families, 'murmur_http_requests_total', { route: '/health', status: '200' })).toBe(
      1,
    )
    expect(
      sumOf(families, 'murmur_http_requests_total', { route: 'unmatched', status: '404' }),
    ).toBe(1)
    // The body limit refuses before the route runs; the route is still the one that matched.
    expect(
      sumOf(families, 'murmur_http_requests_total', { ...kv, level: 'default', status: '413' }),
    ).toBe(1)
    expect(sumOf(families, 'murmur_quorum_failures_total')).toBe(0)
  })

  it('serves the same histogram through the JSON form of the registry', async () => {
    const { app, registry } = instrumentedApp()
    for (let index = 0; index < 3; index++) await app.request('/v1/kv/default/k', { method: 'PUT' })
    const metrics = await registry.getMetricsAsJSON()
    const histogram = metrics.find(
      (metric) => metric.name === 'murmur_http_request_duration_seconds',
    )
    expect(histogram?.type).toBe('histogram')
    const labels = {
      method: 'PUT',
      route: '/v1/kv/:keyspace/:key',
      keyspace: 'default',
      level: 'default',
    }
    expect(histogram?.values).toContainEqual(
      expect.objectContaining({
        metricName: 'murmur_http_request_duration_seconds_bucket',
        labels: { ...labels, le: 0.05 },
        value: 3,
      }),
    )
    expect(histogram?.values).toContainEqual(
      expect.objectContaining({
        metricName: 'murmur_http_request_duration_seconds_count',
        labels,
        value: 3,
      }),
    )
  })

  it('counts quorum failures with their level and code', async () => {
    const { app, registry } = instrumentedApp()
    const response = await app.request('/v1/kv/default/k?consistency=all', { method: 'DELETE' })
    expect(response.status).toBe(503)
    const families = parsePrometheusText(await registry.metrics())
    expect(
      sumOf(families, 'murmur_quorum_failures_total', {
        method: 'DELETE',
        keyspace: 'default',
        level: 'all',
        code: 'quorum_unavailable',
      }),
    ).toBe(1)
    expect(sumOf(families, 'murmur_http_requests_total', { status: '503' })).toBe(1)
  })
})
