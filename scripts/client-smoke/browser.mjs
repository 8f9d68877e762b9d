// Loads @segment/analytics-next in headless Chromium on a page served from another origin than
// the relay (so CORS preflights really happen) and sends all six call types in three set-ups:
//
//   standard  settings inlined (cdnSettings), one request per event: /v1/i, /v1/t, /v1/p, ...
//   batching  settings inlined, deliveryStrategy batching (size 5): two requests to /v1/b
//   cdnURL    settings fetched from the relay (GET /v1/projects/<key>/settings), then as standard
//
// and checks, from the browser's side and from the relay's /metrics: every event was accepted,
// each request reached the relay exactly once (a CORS failure makes the library send again),
// nothing failed in the browser, and the library's telemetry (/v1/m) was answered 200 when the
// settings allow it (the relay's own settings turn it off).
//
//   npm install @segment/analytics-next playwright-core
//   apt-get install chromium
//   RELAY=http://127.0.0.1:8787 WRITE_KEY=wk_test node browser.mjs

import http from 'node:http'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import { chromium } from 'playwright-core'
import { counts, checkDelta, httpCounts } from './relay_metrics.mjs'

const RELAY = process.env.RELAY ?? 'http://127.0.0.1:8787'
const WRITE_KEY = process.env.WRITE_KEY ?? 'wk_test'
const PAGE_PORT = Number(process.env.PAGE_PORT ?? 8790)
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'

const relay = new URL(RELAY)
const apiHost = `${relay.host}/v1` // host and path prefix, no scheme
const protocol = relay.protocol.replace(':', '')
const umd = createRequire(import.meta.url).resolve('@segment/analytics-next/dist/umd/index.js')
const js = JSON.stringify

// Settings as Segment's CDN would serve them, inlined: the library fetches nothing first.
const inline = (deliveryStrategy) => ({
  settings: `{ writeKey: ${js(WRITE_KEY)}, cdnSettings: {
      integrations: { 'Segment.io': { apiKey: ${js(WRITE_KEY)}, apiHost: ${js(apiHost)},
                                      protocol: ${js(protocol)}, deliveryStrategy: ${js(deliveryStrategy)} } },
      metrics: { sampleRate: 1, flushTimer: 1000 } } }`,
  options: `{ integrations: { 'Segment.io': { apiHost: ${js(apiHost)}, protocol: ${js(protocol)} } } }`,
})
const single = { '/v1/i': 1, '/v1/t': 1, '/v1/p': 1, '/v1/s': 1, '/v1/g': 1, '/v1/a': 1 }
const modes = [
  { name: 'standard', ...inline(undefined), posts: single, telemetry: true },
  {
    name: 'batching',
    ...inline({ strategy: 'batching', config: { size: 5, timeout: 500 } }),
    posts: { '/v1/b': 2 }, // five events, then one after the timeout
    telemetry: true,
  },
  {
    name: 'cdnURL',
    settings: `{ writeKey: ${js(WRITE_KEY)}, cdnURL: ${js(relay.origin)} }`,
    options: '{}',
    posts: single,
    gets: { '/v1/projects/{writeKey}/settings': 1 },
    telemetry: false,
  },
]
const expectedEvents = { identify: 1, track: 1, page: 1, screen: 1, group: 1, alias: 1 }

const page = (mode) => `<!doctype html><html><body><script src="/ajs.js"></script><script>
window.run = async () => {
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(${mode.settings}, ${mode.options})
  await Promise.all([
    analytics.identify('web-user-1', { email: 'web@example.com', plan: 'pro' }),
    analytics.track('Order Completed', { total: 42.5 }),
    analytics.page('Docs', 'Getting Started', { url: 'https://example.com/docs' }),
    analytics.screen('Onboarding', 'Welcome', { step: 1 }),
    analytics.group('acct-web', { name: 'Acme' }),
    analytics.alias('web-user-1', 'web-anon-1'),
  ])
}
</script></body></html>`

let current
const server = http.createServer((req, res) => {
  if (req.url === '/ajs.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' })
    return fs.createReadStream(umd).pipe(res)
  }
  res.writeHead(200, { 'content-type': 'text/html' })
  res.end(page(current))
})
await new Promise((r) => server.listen(PAGE_PORT, '127.0.0.1', r))

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
})

let ok = true
for (const mode of modes) {
  current = mode
  console.log(`--- ${mode.name}`)
  const context = await browser.newContext() // fresh storage: no queued events carried over
  const tab = await context.newPage()
  const problems = []
  const toRelay = (r) => new URL(r.url()).host === relay.host
  tab.on('request', (r) => {
    if (toRelay(r) && r.headers()['x-retry-count']) problems.push(`sent again: ${r.method()} ${r.url()}`)
  })
  tab.on('requestfailed', (r) => problems.push(`failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`))
  tab.on('response', (r) => toRelay(r) && r.status() >= 300 && problems.push(`${r.status()}: ${r.url()}`))
  tab.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`))
  tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`))

  const before = await counts(RELAY)
  const httpBefore = await httpCounts(RELAY)
  await tab.goto(`http://127.0.0.1:${PAGE_PORT}/${mode.name}`)
  await tab.evaluate(() => window.run())
  const accepted = await checkDelta(RELAY, before, expectedEvents)
  if (mode.telemetry) {
    // The library flushes its telemetry every second with the settings above.
    const deadline = Date.now() + 5000
    while (!(await answered(httpBefore)).has('/v1/m 200') && Date.now() < deadline) await tab.waitForTimeout(200)
  } else {
    await tab.waitForTimeout(1500)
  }

  // What the relay answered, by route and status: POSTs 200, preflights 204, settings 200.
  const seen = await answered(httpBefore)
  const preflights = [...seen].filter(([k]) => k.endsWith(' 204')).reduce((n, [, v]) => n + v, 0)
  console.log(`relay answered: ${js(Object.fromEntries(seen))}`)
  const want = { ...mode.posts, ...mode.gets }
  for (const [route, n] of Object.entries(want)) {
    if (seen.get(`${route} 200`) !== n) problems.push(`${route}: ${seen.get(`${route} 200`) ?? 0} answered 200, expected ${n}`)
  }
  for (const [key, n] of seen) {
    const [route, status] = key.split(' ')
    if (status === '204' || route === '/v1/m' || route in want) continue
    problems.push(`unexpected: ${n} × ${key}`)
  }
  const telemetry = seen.get('/v1/m 200') ?? 0
  if (mode.telemetry && !telemetry) problems.push('no telemetry (/v1/m) answered 200')
  if (!mode.telemetry && telemetry) problems.push('telemetry sent although the settings turn it off')
  if (!preflights) problems.push('no CORS preflight reached the relay')
  for (const p of problems) console.log('  problem:', p)
  ok = ok && accepted && !problems.length
  await context.close()
}

await browser.close()
server.close()
console.log(ok ? 'OK' : 'FAILED')
process.exit(ok ? 0 : 1)

/** Requests the relay answered since `before`, by "route status", /metrics excluded. */
async function answered(before) {
  const now = await httpCounts(RELAY)
  const out = new Map()
  for (const [key, n] of now) {
    const d = n - (before.get(key) ?? 0)
    if (d && !key.startsWith('/metrics')) out.set(key, d)
  }
  return out
}
