/**
 * The dashboard page served at GET /ui: one self-contained HTML document with its style and
 * script inline, so it needs no CDN, no build step and no other route than the JSON ones it
 * polls. The Content-Security-Policy allows exactly this page's inline style and script (by
 * their SHA-256 hashes) and requests to the node that served it, nothing else.
 */

import { createHash } from 'node:crypto'
import { DASHBOARD_SCRIPT } from './script.js'
import { DASHBOARD_STYLE } from './style.js'

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
}

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>murmur dashboard</title>
<style>${DASHBOARD_STYLE}</style>
</head>
<body>
<header>
  <h1 id="title">murmur</h1>
  <span class="meta" id="meta">connecting…</span>
  <span class="status" id="status"></span>
</header>
<main>
  <section>
    <h2>Members</h2>
    <table>
      <thead><tr><th>node</th><th>state</th><th class="number">incarnation</th><th>zone</th>
        <th>http</th><th>since</th></tr></thead>
      <tbody id="members"></tbody>
    </table>
  </section>
  <section>
    <h2>Raft (strong keyspaces)</h2>
    <div id="raft"></div>
  </section>
  <section class="wide">
    <h2>Nodes: requests, latency, hints and repairs</h2>
    <table>
      <thead><tr><th>node</th><th>state</th><th class="number">requests</th>
        <th class="number">p50</th><th class="number">p99</th><th class="number">5xx</th>
        <th class="number">quorum failures</th><th class="number">hints pending</th>
        <th class="number">hints replayed</th><th class="number">read repairs</th>
        <th class="number">repairs in flight</th><th class="number">loop lag p99</th>
        <th class="number">storage</th><th>raft</th></tr></thead>
      <tbody id="nodes"></tbody>
    </table>
    <p class="muted">Rates and percentiles over the last 5 seconds of client requests
      (health checks, scrapes and this page left out). The full set is at /metrics.</p>
  </section>
  <section>
    <h2>Hints held on this node</h2>
    <div id="hints"></div>
  </section>
  <section class="wide">
    <h2>Ring</h2>
    <div id="ring"></div>
  </section>
</main>
<script>${DASHBOARD_SCRIPT}</script>
</body>
</html>
`

/** Headers served with the page. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': [
    "default-src 'none'",
    `script-src ${sha256(DASHBOARD_SCRIPT)}`,
    `style-src ${sha256(DASHBOARD_STYLE)}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
}
