/**
 * The dashboard's script, inlined into the page. Every second it polls the JSON routes of the
 * node that served it (/v1/cluster, /v1/stats/cluster, /v1/raft; the ring from
 * /v1/cluster/ring when its version changes) and redraws. Rates and latency percentiles come
 * from the difference of per-node summaries a few seconds apart, as Prometheus's rate() and
 * histogram_quantile() would compute them. Text from the network is only ever set as text
 * (never as HTML), because member ids and addresses come from other nodes. At most one poll is
 * in flight, and each request gives up after REQUEST_TIMEOUT_MS.
 */

// The script is plain JavaScript in a template string: it must contain no backquote, no
// dollar-brace sequence and no backslash, which would end, interpolate or unescape the template.
export const DASHBOARD_SCRIPT = `
'use strict'
;(() => {
  const POLL_INTERVAL_MS = 1000
  const REQUEST_TIMEOUT_MS = 2500
  const RATE_WINDOW_MS = 5000
  const HISTORY_MAX = 16
  const RING_REFRESH_MS = 30000
  const view = { history: new Map(), ring: null, ringVersion: null, ringFetchedMs: 0,
    busy: false, updates: 0 }

  function el(tag, props, ...children) {
    const node = document.createElement(tag)
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue
      if (name === 'class') node.className = value
      else node.setAttribute(name, String(value))
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue
      node.append(child instanceof Node ? child : String(child))
    }
    return node
  }

  function cell(text, props) { return el('td', props, text) }
  function numberCell(text, props) { return el('td', Object.assign({ class: 'number' }, props), text) }
  function badge(state, props) { return el('span', Object.assign({ class: 'badge ' + state }, props), state) }

  // An API token (docs/SECURITY.md) arrives in the fragment, /ui#token=..., which never
  // reaches the server or its logs; it is kept for this tab only and dropped from the address.
  const TOKEN_KEY = 'murmur-token'
  function adoptToken() {
    const token = new URLSearchParams(location.hash.slice(1)).get('token')
    if (!token) return
    sessionStorage.setItem(TOKEN_KEY, token)
    history.replaceState(null, '', location.pathname + location.search)
  }
  adoptToken()
  window.addEventListener('hashchange', adoptToken)

  function authorization() {
    const token = sessionStorage.getItem(TOKEN_KEY)
    return token ? { Authorization: 'Bearer ' + token } : {}
  }

  async function getJson(path) {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS)
    try {
      const response = await fetch(path, {
        signal: controller.signal, cache: 'no-store', headers: authorization(),
      })
      if (response.status === 401) {
        throw new Error('this node requires an API token: open /ui#token=<a read token>')
      }
      if (!response.ok) throw new Error(path + ' answered ' + response.status)
      return await response.json()
    } finally {
      clearTimeout(timer)
    }
  }

  // ---- Formatting.

  function formatRate(value) {
    if (value === null) return '–'
    return (value >= 100 ? value.toFixed(0) : value.toFixed(1)) + '/s'
  }

  function formatSeconds(value) {
    if (value === null) return '–'
    if (value >= 1) return value.toFixed(2) + ' s'
    return (value * 1000).toFixed(value >= 0.01 ? 0 : 1) + ' ms'
  }

  function formatBytes(value) {
    if (value === null || value === undefined) return '–'
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
    let scaled = value
    let unit = 0
    while (scaled >= 1024 && unit < units.length - 1) { scaled /= 1024; unit++ }
    return (unit === 0 ? String(scaled) : scaled.toFixed(1)) + ' ' + units[unit]
  }

  function formatAgo(iso) {
    if (!iso) return '–'
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))
    if (seconds < 120) return seconds + ' s ago'
    if (seconds < 7200) return Math.round(seconds / 60) + ' min ago'
    return Math.round(seconds / 3600) + ' h ago'
  }

  // ---- Rates and percentiles from summaries a few seconds apart.

  function remember(stats) {
    for (const entry of stats.nodes) {
      if (!entry.summary) continue
      const history = view.history.get(entry.node) || []
      const last = history[history.length - 1]
      // A restarted node starts its counters again; older summaries no longer compare.
      if (last && entry.summary.requests < last.requests) history.length = 0
      if (!last || entry.summary.timeMs > last.timeMs) history.push(entry.summary)
      while (history.length > HISTORY_MAX) history.shift()
      view.history.set(entry.node, history)
    }
  }

  function windowOf(node) {
    const history = view.history.get(node) || []
    const newest = history[history.length - 1]
    if (!newest) return null
    const oldest = history.find((summary) => newest.timeMs - summary.timeMs <= RATE_WINDOW_MS)
    if (!oldest || oldest === newest) return null
    return { oldest, newest, seconds: (newest.timeMs - oldest.timeMs) / 1000 }
  }

  function rate(window, field) {
    if (!window || window.seconds <= 0) return null
    return Math.max(0, window.newest[field] - window.oldest[field]) / window.seconds
  }

  function quantile(window, q) {
    if (!window) return null
    const before = new Map(window.oldest.latencyBuckets)
    const buckets = window.newest.latencyBuckets.map(([le, count]) =>
      [le === '+Inf' ? Infinity : Number(le), count - (before.get(le) || 0)])
    const total = buckets.length === 0 ? 0 : buckets[buckets.length - 1][1]
    if (total <= 0) return null
    const rank = q * total
    let lowerBound = 0
    let lowerCount = 0
    for (const [bound, count] of buckets) {
      if (count >= rank) {
        if (bound === Infinity) return lowerBound
        const fraction = count === lowerCount ? 1 : (rank - lowerCount) / (count - lowerCount)
        return lowerBound + (bound - lowerBound) * fraction
      }
      lowerBound = bound
      lowerCount = count
    }
    return lowerBound
  }

  // ---- Sections.

  function renderHeader(cluster) {
    document.getElementById('title').textContent = 'murmur · ' + cluster.cluster
    document.getElementById('meta').textContent =
      'node ' + cluster.node + ' · version ' + cluster.version + ' · started ' +
      formatAgo(cluster.startedAt)
  }

  function renderMembers(members) {
    const rows = members.map((member) => el('tr', { 'data-member': member.id },
      cell(member.id),
      el('td', { 'data-field': 'state' }, badge(member.state)),
      numberCell(member.incarnation),
      cell(member.zone),
      cell(member.httpAddress, { class: 'muted' }),
      cell(formatAgo(member.lastChangeAt), { class: 'muted' })))
    document.getElementById('members').replaceChildren(...rows)
  }

  function renderNodes(stats) {
    const rows = stats.nodes.map((entry) => {
      const summary = entry.summary
      if (!summary) {
        return el('tr', { 'data-node': entry.node }, cell(entry.node),
          el('td', null, badge(entry.state)),
          el('td', { colspan: 12, class: 'muted' }, entry.error || 'no data'))
      }
      const window = windowOf(entry.node)
      const raft = summary.raft ? summary.raft.role + ' (term ' + summary.raft.term + ')' : '–'
      return el('tr', { 'data-node': entry.node },
        cell(entry.node),
        el('td', null, badge(entry.state)),
        numberCell(formatRate(rate(window, 'requests')), { 'data-field': 'requests' }),
        numberCell(formatSeconds(quantile(window, 0.5))),
        numberCell(formatSeconds(quantile(window, 0.99))),
        numberCell(formatRate(rate(window, 'serverErrors'))),
        numberCell(formatRate(rate(window, 'quorumFailures'))),
        numberCell(summary.hintsPending, { 'data-field': 'hints-pending' }),
        numberCell(formatRate(rate(window, 'hintsDelivered'))),
        numberCell(formatRate(rate(window, 'readRepairs'))),
        numberCell(summary.repairsInFlight),
        numberCell(formatSeconds(summary.eventLoopLagP99Seconds)),
        numberCell(formatBytes(summary.storageBytes)),
        cell(raft))
    })
    document.getElementById('nodes').replaceChildren(...rows)
  }

  function fact(label, value) {
    return el('div', { class: 'fact' }, el('div', { class: 'label' }, label),
      el('div', { class: 'value' }, value === undefined || value === null ? '–' : value))
  }

  function renderRaft(raft) {
    const target = document.getElementById('raft')
    if (!raft) { target.replaceChildren(el('p', { class: 'error' }, 'no answer from /v1/raft')); return }
    if (!raft.role) {
      target.replaceChildren(el('p', { class: 'muted' },
        'This node is not a member of the Raft group (' + (raft.members || []).join(', ') +
        '); leader: ' + (raft.leader || 'unknown')))
      return
    }
    const facts = el('div', { class: 'facts' },
      fact('role', raft.role), fact('term', raft.term), fact('leader', raft.leader || 'none'),
      fact('commit', raft.commit), fact('applied', raft.applied), fact('last index', raft.lastIndex),
      fact('snapshot', raft.snapshotIndex), fact('log', formatBytes(raft.logBytes)),
      fact('members', (raft.members || []).join(' ')))
    const progress = Object.entries(raft.progress || {})
    if (progress.length === 0) { target.replaceChildren(facts); return }
    const rows = progress.map(([member, each]) => el('tr', null, cell(member),
      numberCell(each.match), numberCell(each.next), cell(each.state),
      numberCell(Math.max(0, raft.commit - each.match))))
    const table = el('table', null, el('thead', null, el('tr', null, el('th', null, 'member'),
      el('th', { class: 'number' }, 'match'), el('th', { class: 'number' }, 'next'),
      el('th', null, 'state'), el('th', { class: 'number' }, 'behind commit'))),
      el('tbody', null, rows))
    target.replaceChildren(facts, el('h3', null, 'Replication (leader view)'), table)
  }

  function renderHints(cluster) {
    const held = Object.entries((cluster.replication && cluster.replication.hintsHeld) || {})
    const target = document.getElementById('hints')
    if (held.length === 0) { target.replaceChildren(el('p', { class: 'muted' }, 'No hints held on this node.')); return }
    target.replaceChildren(el('table', null, el('thead', null, el('tr', null,
      el('th', null, 'for node'), el('th', { class: 'number' }, 'hints held here'))),
      el('tbody', null, held.map(([node, count]) => el('tr', null, cell(node), numberCell(count))))))
  }

  function chip(node, states, witness) {
    const state = states.get(node) || 'unknown'
    return el('span', { class: 'chip ' + state + (witness ? ' witness' : ''),
      title: node + ' (' + state + (witness ? ', witness' : '') + ')' }, node)
  }

  function renderRing(members) {
    const ring = view.ring
    const target = document.getElementById('ring')
    if (!ring) { target.replaceChildren(el('p', { class: 'muted' }, 'Loading the ring…')); return }
    const states = new Map(members.map((member) => [member.id, member.state]))
    const sections = [el('p', { class: 'muted' }, 'Ring version ' + ring.version + ', ' +
      ring.partitions + ' partitions. Solid: full replicas; dashed: witnesses.')]
    for (const keyspace of ring.keyspaces) {
      sections.push(el('h3', null, keyspace.name + ' · ' + keyspace.mode + ' · N=' +
        keyspace.replicas + (keyspace.witnesses > 0 ? ', ' + keyspace.witnesses + ' witnesses' : '')))
      if (keyspace.mode === 'strong') {
        sections.push(el('p', { class: 'muted' }, 'Served by the Raft group, not by the ring.'))
        continue
      }
      sections.push(el('div', { class: 'ring' }, keyspace.partitions.map((place) =>
        el('div', { class: 'partition', 'data-partition': place.partition },
          el('span', { class: 'index' }, place.partition),
          place.full.map((node) => chip(node, states, false)),
          place.witnesses.map((node) => chip(node, states, true))))))
    }
    target.replaceChildren(...sections)
  }

  async function refreshRing(cluster) {
    const version = cluster.ring ? cluster.ring.version : null
    const stale = Date.now() - view.ringFetchedMs > RING_REFRESH_MS
    if (view.ring && version === view.ringVersion && !stale) return
    view.ring = await getJson('/v1/cluster/ring')
    view.ringVersion = view.ring.version
    view.ringFetchedMs = Date.now()
  }

  function setStatus(ok, text) {
    const status = document.getElementById('status')
    const pill = el('span', { class: 'badge ' + (ok ? 'ok' : 'stale'), title: text }, ok ? 'live' : 'stale')
    status.replaceChildren(pill,
      ' ', el('span', { class: 'muted' }, ok ? 'updated ' + new Date().toLocaleTimeString() : text))
  }

  async function tick() {
    if (view.busy) return
    view.busy = true
    try {
      const [cluster, stats, raft] = await Promise.all([getJson('/v1/cluster'),
        getJson('/v1/stats/cluster'), getJson('/v1/raft').catch(() => null)])
      await refreshRing(cluster).catch(() => undefined)
      remember(stats)
      renderHeader(cluster)
      renderMembers(cluster.members)
      renderNodes(stats)
      renderRaft(raft)
      renderHints(cluster)
      renderRing(cluster.members)
      view.updates++
      document.body.setAttribute('data-updates', String(view.updates))
      setStatus(true, '')
    } catch (error) {
      setStatus(false, String((error && error.message) || error))
    } finally {
      view.busy = false
    }
  }

  tick()
  setInterval(tick, POLL_INTERVAL_MS)
})()
`
