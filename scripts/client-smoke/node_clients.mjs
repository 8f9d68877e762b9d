// Sends every call type through the real Node clients to a running relay, then checks the
// relay's /metrics counted each event as accepted.
//
//   npm install @segment/analytics-node @customerio/cdp-analytics-node
//   RELAY=http://127.0.0.1:8787 WRITE_KEY=wk_test node node_clients.mjs

import { Analytics as SegmentAnalytics } from '@segment/analytics-node'
import { Analytics as CioAnalytics } from '@customerio/cdp-analytics-node'
import { counts, checkDelta } from './relay_metrics.mjs'

const RELAY = process.env.RELAY ?? 'http://127.0.0.1:8787'
const WRITE_KEY = process.env.WRITE_KEY ?? 'wk_test'

const errors = []

/** One call of each of the six types; returns how many events of each type were sent. */
function everyCall(client, ids, tag) {
  client.identify({ ...ids, traits: { email: `node${tag}@example.com`, plan: 'pro' } })
  client.track({ ...ids, event: 'Order Completed', properties: { total: 42.5, tag } })
  client.page({ ...ids, category: 'Docs', name: 'Getting Started', properties: { url: 'https://example.com/docs' } })
  client.screen({ ...ids, category: 'Onboarding', name: 'Welcome', properties: { step: 1 } })
  client.group({ ...ids, groupId: `acct${tag}`, traits: { name: 'Acme', plan: 'enterprise' } })
  const sent = { identify: 1, track: 1, page: 1, screen: 1, group: 1 }
  if (ids.userId !== undefined) {
    client.alias({ userId: ids.userId, previousId: `anon${tag}` })
    sent.alias = 1
  }
  return sent
}

async function run(name, client, ids, tag, expected) {
  client.on('error', (err) => errors.push(`${name}: ${err.code ?? ''} ${err.reason ?? err.message ?? err}`))
  const sent = everyCall(client, ids, tag)
  await client.closeAndFlush()
  console.log(`${name}: sent ${JSON.stringify(sent)}`)
  for (const [type, n] of Object.entries(sent)) expected[type] = (expected[type] ?? 0) + n
}

const before = await counts(RELAY)
const expected = {}
// `path` stays at its default /v1/batch; the URL is new URL(path, host).
await run('segment', new SegmentAnalytics({ writeKey: WRITE_KEY, host: RELAY, maxRetries: 0 }), { userId: 'node-user-1' }, '-seg', expected)
await run('segment anonymous', new SegmentAnalytics({ writeKey: WRITE_KEY, host: RELAY, maxRetries: 0 }), { anonymousId: 'node-anon-2' }, '-anon', expected)
await run('customer.io', new CioAnalytics({ writeKey: WRITE_KEY, host: RELAY, maxRetries: 0 }), { userId: 'node-user-3' }, '-cio', expected)
await run('customer.io anonymous', new CioAnalytics({ writeKey: WRITE_KEY, host: RELAY, maxRetries: 0 }), { anonymousId: 'node-anon-4' }, '-cioanon', expected)

for (const e of errors) console.log('client error:', e)
const ok = (await checkDelta(RELAY, before, expected)) && !errors.length
console.log(ok ? 'OK' : 'FAILED')
process.exit(ok ? 0 : 1)
