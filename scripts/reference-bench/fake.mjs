// A fast stand-in for Customer.io's Track API: answers every POST with 200 `{}` and counts
// operations (a batch body's `batch` length, else one). Prints the counts on SIGTERM or when
// asked with a GET. Runs as its own process so it does not share the reference's event loop.
import http from 'node:http'

let requests = 0
let operations = 0
const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ requests, operations }))
    return
  }
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    requests += 1
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      operations += Array.isArray(body.batch) ? body.batch.length : 1
    } catch {
      operations += 1
    }
    res.setHeader('content-type', 'application/json')
    res.end('{}')
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: server.address().port })
})
