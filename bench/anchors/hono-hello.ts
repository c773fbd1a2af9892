/**
 * The anchor server: a bare hono hello-world on @hono/node-server, the ceiling any route of
 * murmur's REST layer can reach on this machine. Usage: node hono-hello.js <port>.
 */

import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const port = Number(process.argv[2])
if (!Number.isInteger(port)) {
  console.error('usage: hono-hello.js <port>')
  process.exit(2)
}
const app = new Hono()
app.get('/', (c) => c.text('Hello Hono!'))
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () =>
  console.log(`hono hello-world on ${port}`),
)
