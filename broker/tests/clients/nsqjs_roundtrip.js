#!/usr/bin/env node
// Round trip through nsqd with the real nsqjs client.
//
// Publishes --count messages to --topic with nsqjs's Writer (a mix of single
// publishes, i.e. PUB, and array publishes, i.e. MPUB), consumes them with
// nsqjs's Reader (maxInFlight 100), FINishes each, and checks that every body
// arrived exactly once with the right content.
//
// Exit status: 0 on success; 1 on a failed check, a publish error or the
// timeout; 2 on bad arguments; 3 when nsqjs is not installed.
//
// Run by broker/tests/it/clients.rs; install the client with
// scripts/install-test-deps.sh (npm ci in this folder).
'use strict'

const path = require('path')

let nsq
try {
  nsq = require('nsqjs')
} catch (e) {
  console.error(
    `nsqjs_roundtrip: cannot load nsqjs from ${path.join(__dirname, 'node_modules')} ` +
      `(${e.message}); run scripts/install-test-deps.sh`
  )
  process.exit(3)
}

const CHANNEL = 'nsqjs_roundtrip'
const MPUB_BATCH = 25

function usage(msg) {
  console.error(`nsqjs_roundtrip: ${msg}`)
  console.error(
    'usage: nsqjs_roundtrip.js --nsqd-tcp-address HOST:PORT --topic T ' +
      '[--count N] [--timeout SECONDS] [--linger SECONDS]'
  )
  process.exit(2)
}

function parseArgs(argv) {
  const args = {count: 2000, timeout: 60, linger: 0.5}
  for (let i = 0; i < argv.length; i++) {
    let key = argv[i]
    let value
    const eq = key.indexOf('=')
    if (eq >= 0) {
      value = key.slice(eq + 1)
      key = key.slice(0, eq)
    } else {
      value = argv[++i]
    }
    if (value === undefined) usage(`missing value for ${key}`)
    switch (key) {
      case '--nsqd-tcp-address':
        args.address = value
        break
      case '--topic':
        args.topic = value
        break
      case '--count':
        args.count = Number(value)
        break
      case '--timeout':
        args.timeout = Number(value)
        break
      case '--linger':
        args.linger = Number(value)
        break
      // Feature negotiation: --tls-ca FILE (TLS, verified against FILE),
      // --compression snappy|deflate.
      case '--tls-ca':
        args.tlsCa = value
        break
      case '--compression':
        args.compression = value
        break
      default:
        usage(`unknown argument ${key}`)
    }
  }
  if (!args.address) usage('--nsqd-tcp-address is required')
  if (!args.topic) usage('--topic is required')
  if (!Number.isInteger(args.count) || args.count < 1) usage('--count must be a positive integer')
  if (!(args.timeout > 0)) usage('--timeout must be positive')
  return args
}

// The i-th body: unique, varied length, some non-UTF-8 bytes.
function body(topic, i) {
  const head = Buffer.from(`${topic}|${String(i).padStart(6, '0')}|`)
  const tail = Buffer.alloc(i % 61)
  for (let k = 0; k < tail.length; k++) tail[k] = (i + k) % 256
  return Buffer.concat([head, tail])
}

function main() {
  const args = parseArgs(process.argv.slice(2))
  const started = Date.now()
  const [host, portText] = [
    args.address.slice(0, args.address.lastIndexOf(':')),
    args.address.slice(args.address.lastIndexOf(':') + 1),
  ]
  const port = Number(portText)

  const expected = new Map() // hex body -> index
  for (let i = 0; i < args.count; i++) expected.set(body(args.topic, i).toString('hex'), i)
  const received = new Set()
  const duplicates = []
  const unexpected = []
  const badAttempts = []
  let pubAcked = 0
  let pubSent = 0
  let failure = null
  let finished = false
  let doneTimer = null

  const features = {}
  if (args.tlsCa) {
    features.tls = true
    features.tlsVerification = true
    features.ca = require('fs').readFileSync(args.tlsCa)
  }
  if (args.compression === 'snappy') features.snappy = true
  if (args.compression === 'deflate') {
    features.deflate = true
    features.deflateLevel = 6
  }
  const writer = new nsq.Writer(host, port, features)
  const reader = new nsq.Reader(args.topic, CHANNEL, {
    nsqdTCPAddresses: [args.address],
    maxInFlight: 100,
    ...features,
  })

  function finish() {
    if (finished) return
    finished = true
    clearTimeout(timeoutTimer)
    const problems = []
    if (failure) problems.push(failure)
    if (pubAcked !== args.count) {
      problems.push(`publish acknowledged ${pubAcked} of ${args.count} messages (${pubSent} sent)`)
    }
    const missing = []
    for (const [hex, i] of expected) if (!received.has(hex)) missing.push(i)
    if (missing.length) {
      problems.push(
        `${missing.length} of ${args.count} messages never arrived, first indices ` +
          JSON.stringify(missing.slice(0, 10))
      )
    }
    if (duplicates.length) {
      problems.push(`${duplicates.length} duplicate deliveries, e.g. ${duplicates.slice(0, 3).join(', ')}`)
    }
    if (unexpected.length) {
      problems.push(`${unexpected.length} unexpected bodies, e.g. ${unexpected.slice(0, 3).join(', ')}`)
    }
    if (badAttempts.length) {
      problems.push(
        `${badAttempts.length} messages with attempts != 1, e.g. ${JSON.stringify(badAttempts.slice(0, 3))}`
      )
    }
    const took = ((Date.now() - started) / 1000).toFixed(2)
    const version = `nsqjs ${require('nsqjs/package.json').version}, node ${process.version}`
    let code = 0
    if (problems.length) {
      console.error(
        `nsqjs_roundtrip FAILED (${version}, topic ${args.topic}, ${took} s):\n  ${problems.join('\n  ')}`
      )
      code = 1
    } else {
      console.log(`nsqjs_roundtrip OK: ${args.count} messages on topic ${args.topic} in ${took} s (${version})`)
    }
    try {
      reader.close()
    } catch (e) {
      // closing is best effort
    }
    try {
      writer.close()
    } catch (e) {
      // closing is best effort
    }
    // Let the sockets close, then exit whatever is still pending.
    setTimeout(() => process.exit(code), 100)
  }

  function fail(msg) {
    if (!failure) failure = msg
    finish()
  }

  function checkDone() {
    if (duplicates.length || unexpected.length || badAttempts.length) {
      // Let the final report list them; stop soon.
      if (!doneTimer) doneTimer = setTimeout(finish, 200)
      return
    }
    if (!doneTimer && received.size === expected.size && pubAcked === args.count) {
      // Linger to catch late duplicates (e.g. a lost FIN redelivered).
      doneTimer = setTimeout(finish, args.linger * 1000)
    }
  }

  const timeoutTimer = setTimeout(() => fail(`timeout after ${args.timeout} s`), args.timeout * 1000)

  reader.on('message', (msg) => {
    const b = msg.body
    const hex = b.toString('hex')
    if (!expected.has(hex)) {
      unexpected.push(JSON.stringify(b.toString('latin1')))
    } else if (received.has(hex)) {
      duplicates.push(JSON.stringify(b.toString('latin1')))
    } else {
      received.add(hex)
    }
    if (msg.attempts !== 1) badAttempts.push([b.toString('latin1'), msg.attempts])
    msg.finish()
    checkDone()
  })
  reader.on('error', (err) => fail(`reader error: ${err && err.stack ? err.stack : err}`))
  reader.on('discard', (msg) => fail(`reader discarded message ${msg.id}`))
  reader.on('nsqd_closed', (h, p) => {
    if (!finished) fail(`reader connection to ${h}:${p} closed`)
  })

  writer.on('error', (err) => fail(`writer error: ${err && err.stack ? err.stack : err}`))
  writer.on('closed', () => {
    if (!finished) fail('writer connection closed')
  })
  writer.on('ready', () => {
    let i = 0
    let kind = 0
    while (i < args.count) {
      let msgs
      if (kind % 2 === 0) {
        msgs = body(args.topic, i) // single message: PUB
      } else {
        msgs = []
        for (let j = i; j < Math.min(args.count, i + MPUB_BATCH); j++) msgs.push(body(args.topic, j))
      }
      const n = Array.isArray(msgs) ? msgs.length : 1
      const what = Array.isArray(msgs) ? 'MPUB' : 'PUB'
      writer.publish(args.topic, msgs, (err) => {
        if (err) {
          fail(`${what} of ${n} message(s) failed: ${err.stack || err}`)
          return
        }
        pubAcked += n
        checkDone()
      })
      pubSent += n
      i += n
      kind++
    }
  })

  writer.connect()
  reader.connect()
}

main()
