// Reads a relay's /metrics: events received by type and outcome, Customer.io operations sent by
// action (a dry-run destination counts what it logs as sent), requests by route and status.

// The operation each call type becomes under the default presets: one per event.
const ACTION = {
  identify: 'createUpdatePerson',
  track: 'trackEvent',
  page: 'trackPageView',
  screen: 'trackScreenView',
  group: 'createUpdateObject',
  alias: 'mergePeople',
}

async function metrics(relay) {
  const text = await (await fetch(new URL('/metrics', relay))).text()
  return [...text.matchAll(/^cio_relay_(\w+?)(?:_total|_count)?\{(.*)\} (\S+)$/gm)].map((m) => ({
    name: m[1],
    labels: Object.fromEntries([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]])),
    value: Number(m[3]),
  }))
}

function sum(rows, keyOf) {
  const out = new Map()
  for (const row of rows) {
    const key = keyOf(row)
    if (key) out.set(key, (out.get(key) ?? 0) + row.value)
  }
  return out
}

/** Map "events type/outcome" | "ops action" -> n, summed over sources and destinations. */
export async function counts(relay) {
  return sum(await metrics(relay), ({ name, labels }) =>
    name === 'events_received' ? `events ${labels.type}/${labels.outcome}`
      : name === 'operations_sent' ? `ops ${labels.action}` : undefined)
}

/** Map "route status" -> requests the relay answered. */
export async function httpCounts(relay) {
  return sum(await metrics(relay), ({ name, labels }) =>
    name === 'http_request_duration_seconds' ? `${labels.route} ${labels.status}` : undefined)
}

/** Waits until the relay accepted `expected` ({type: n}) events and sent one operation for
 * each. True when that is all it counted: nothing rejected, filtered or unavailable. */
export async function checkDelta(relay, before, expected, waitMs = 10000) {
  const wantOps = {}
  for (const [type, n] of Object.entries(expected)) wantOps[ACTION[type]] = (wantOps[ACTION[type]] ?? 0) + n
  const deadline = Date.now() + waitMs
  let accepted, others, ops, ok
  for (;;) {
    const after = await counts(relay)
    accepted = {}
    others = {}
    ops = {}
    for (const key of new Set([...after.keys(), ...before.keys()])) {
      const n = (after.get(key) ?? 0) - (before.get(key) ?? 0)
      if (!n) continue
      const [family, what] = key.split(' ')
      const [type, outcome] = what.split('/')
      if (family === 'ops') ops[what] = n
      else if (outcome === 'accepted') accepted[type] = n
      else others[what] = n
    }
    ok = same(accepted, expected) && same(ops, wantOps) && !Object.keys(others).length
    if (ok || Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 200))
  }
  console.log('relay accepted:', show(accepted))
  console.log('expected:      ', show(expected))
  console.log('operations:    ', show(ops))
  if (!same(ops, wantOps)) console.log('expected ops:  ', show(wantOps))
  if (Object.keys(others).length) console.log('NOT accepted:  ', show(others))
  return ok
}

const show = (o) => JSON.stringify(Object.fromEntries(Object.entries(o).sort()))
const same = (a, b) => show(a) === show(b)
