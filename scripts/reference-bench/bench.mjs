// Runs Segment's reference "Customer.io (Actions)" destination, as published on npm, in one
// Node process with its 15 default presets, against a fast fake Customer.io in another
// process, and prints events/s, the process's CPU and its peak RSS. The events are the ones
// benches/load.rs sends (~550-byte track events, unique messageIds).
//
//   node bench.mjs single --seconds 20 --concurrency 64   # onEvent, one request per event
//   node bench.mjs batch  --seconds 20 --concurrency 8    # onBatch with 100 events per call
//
// See README.md for setting it up (the package is installed without its dependency tree).
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const args = process.argv.slice(2)
const mode = args[0] === 'batch' ? 'batch' : 'single'
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const seconds = opt('seconds', 20)
const concurrency = opt('concurrency', mode === 'batch' ? 8 : 64)
const perBatch = opt('events', 100)

const root = './node_modules/@segment/action-destinations/dist/destinations/customerio'
const destination = require(`${root}/index.js`).default
const { Destination } = require('@segment/actions-core')

const fake = fork(new URL('./fake.mjs', import.meta.url))
const port = await new Promise((resolve) => fake.once('message', (m) => resolve(m.port)))
// The actions build their URL from the region at call time; point them at the fake.
require(`${root}/utils.js`).trackApiEndpoint = () => `http://127.0.0.1:${port}`

const subscriptions = destination.presets
  .filter((p) => p.type === 'automatic')
  .map((p) => ({ name: p.name, partnerAction: p.partnerAction, subscribe: p.subscribe, mapping: p.mapping, enabled: true }))
const settings = { siteId: 'site', apiKey: 'key', accountRegion: 'US 🇺🇸' }
const dest = new Destination(destination)

let seq = 0
const event = () => {
  const n = seq++
  const user = n % 10000
  return {
    type: 'track',
    event: 'Order Completed',
    userId: `user_${user}`,
    anonymousId: `anon-${user}`,
    messageId: `load-${n}`,
    timestamp: '2024-06-01T10:00:00.000Z',
    properties: {
      order_id: `o-${n}`, total: 99.5, currency: 'USD', shipped_at: '2024-06-02T08:00:00Z',
      items: [{ sku: 'A-1', qty: 2 }, { sku: 'B-7', qty: 1 }], coupon: 'SUMMER'
    },
    context: {
      ip: '203.0.113.9',
      library: { name: 'analytics-node', version: '3.1.0' },
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64)'
    },
    receivedAt: new Date().toISOString()
  }
}

const peakRss = () => {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'))
  return line ? Number(line.split(/\s+/)[1]) / 1024 : NaN
}

const fakeCounts = async () => (await fetch(`http://127.0.0.1:${port}/`)).json()

let events = 0
let failures = 0
const deadline = Date.now() + seconds * 1000
const cpuBefore = process.cpuUsage()
const started = Date.now()
const worker = async () => {
  while (Date.now() < deadline) {
    try {
      if (mode === 'batch') {
        const batch = Array.from({ length: perBatch }, event)
        await dest.onBatch(batch, { ...settings, subscriptions })
        events += batch.length
      } else {
        await dest.onEvent(event(), { ...settings, subscriptions })
        events += 1
      }
    } catch (e) {
      failures += 1
      if (failures <= 3) console.error('failed:', e?.stack ?? e)
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker))
const elapsed = (Date.now() - started) / 1000
const cpu = process.cpuUsage(cpuBefore)
const counts = await fakeCounts()
console.log(`reference ${mode}: ${seconds} s, ${concurrency} in flight${mode === 'batch' ? `, ${perBatch} events per call` : ''}`)
console.log(`events mapped and sent: ${events} (${(events / elapsed).toFixed(0)} events/s), ${failures} failed calls`)
console.log(`fake received ${counts.operations} operations in ${counts.requests} requests (${(counts.operations / Math.max(counts.requests, 1)).toFixed(1)} per request)`)
console.log(`reference CPU: ${((cpu.user + cpu.system) / 1e6 / elapsed).toFixed(2)} cores; peak RSS ${peakRss().toFixed(1)} MiB`)
fake.kill()
