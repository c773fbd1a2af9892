/**
 * Goal: the dashboard a node serves shows the cluster live in a real browser: every member
 * alive, every partition of the ring, a summary row per node, and then a member killed with
 * SIGKILL first as suspect and later as dead, without a reload. Method: three real `murmur
 * start` processes on loopback; headless Chromium driven by playwright-core (the browser from
 * MURMUR_CHROMIUM, else /usr/bin/chromium) opens n1's /ui; every wait is bounded, and page
 * errors and Content-Security-Policy violations fail the test. With API tokens configured, the
 * page asks for one and shows the cluster once a token is given in the address's fragment.
 */

import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TestCluster } from '../support/cluster.js'

const CHROMIUM = process.env['MURMUR_CHROMIUM'] ?? '/usr/bin/chromium'

let cluster: TestCluster | undefined
let browser: Browser | undefined
let page: Page
const pageErrors: string[] = []

beforeAll(async () => {
  // A suspicion of at least 6 s (twice the local preset's): the page polls once a second, and
  // on a loaded machine a 3 s suspect window could pass between two of its refreshes.
  cluster = await TestCluster.create({
    nodes: 3,
    file: { gossip: { preset: 'local', suspicionMult: 6 } },
  })
  await cluster.startAll()
  browser = await chromium.launch({ executablePath: CHROMIUM, timeout: 60_000 })
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  page.on('pageerror', (error) => pageErrors.push(error.message))
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text())
  })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await cluster?.destroy()
}, 60_000)

function running(): TestCluster {
  if (cluster === undefined) throw new Error('the cluster did not start')
  return cluster
}

/** The state the page shows for `member` in its members table, or "" while it shows none. */
async function shownState(member: string): Promise<string> {
  const cell = page.locator(`#members tr[data-member="${member}"] [data-field="state"]`)
  return (await cell.count()) === 1 ? ((await cell.textContent()) ?? '') : ''
}

describe('dashboard in a browser', () => {
  it('shows every member alive, the ring and a row per node', async () => {
    await page.goto(`${running().node('n1').url}/ui`, { timeout: 15_000 })
    for (const member of ['n1', 'n2', 'n3']) {
      await expect.poll(() => shownState(member), { timeout: 20_000, interval: 200 }).toBe('alive')
    }
    await expect
      .poll(() => page.locator('#nodes tr[data-node]').count(), { timeout: 10_000 })
      .toBe(3)
    await expect
      .poll(() => page.locator('#ring [data-partition]').count(), { timeout: 10_000 })
      .toBe(64)
    expect(await page.locator('#title').textContent()).toBe('murmur · test')
    expect(pageErrors).toEqual([])
  })

  it('shows a member killed with SIGKILL as suspect, then dead', async () => {
    await running().kill('n3')
    await expect.poll(() => shownState('n3'), { timeout: 30_000, interval: 200 }).toBe('suspect')
    await expect.poll(() => shownState('n3'), { timeout: 60_000, interval: 250 }).toBe('dead')
    expect(await shownState('n1')).toBe('alive')
    expect(await shownState('n2')).toBe('alive')
    // The ring marks the dead member's replicas, and its node row has no summary any more.
    expect(await page.locator('#ring .chip.dead').count()).toBeGreaterThan(0)
    await expect
      .poll(() => page.locator('#nodes tr[data-node="n3"]').textContent(), { timeout: 10_000 })
      .toContain('member is dead')
    expect(pageErrors).toEqual([])
  }, 120_000)
})

describe('dashboard with API tokens', () => {
  it('asks for a token, then shows the cluster with one given in the fragment', async () => {
    const token = 'viewer-token-0123456789'
    const secured = await TestCluster.create({
      nodes: 1,
      file: {
        gossip: { preset: 'local' },
        auth: { tokens: [{ name: 'viewer', token, access: 'read', keyspaces: ['*'] }] },
      },
    })
    const tab = await browser?.newPage()
    try {
      if (tab === undefined) throw new Error('no browser')
      await secured.startAll()
      const url = `${secured.node('n1').url}/ui`
      await tab.goto(url, { timeout: 15_000 })
      await expect
        .poll(() => tab.locator('#status').textContent(), { timeout: 10_000, interval: 200 })
        .toContain('requires an API token')
      await tab.goto(`${url}#token=${token}`, { timeout: 15_000 })
      const state = tab.locator('#members tr[data-member="n1"] [data-field="state"]')
      await expect.poll(() => state.textContent(), { timeout: 20_000, interval: 200 }).toBe('alive')
      // The token leaves the address bar once it is kept for the tab.
      expect(tab.url()).not.toContain(token)
    } finally {
      await tab?.close()
      await secured.destroy()
    }
  }, 90_000)
})
