import { type ChildProcess, fork } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { BlobTransfer, createHost, type Host } from '@swarmgrad/net'
import { createEnvelope, encodeEnvelope, MessageKind, peerIdBytes } from '@swarmgrad/protocol'
import { replaceDocSection } from './docs-section.js'

/**
 * Model transfer throughput: one 4 MiB body pushed between two hosts on 127.0.0.1 (noise, yamux, sha-256 on both
 * sides, ack), against a raw Node.js TCP socket moving the same bytes, interleaved in the same run. Measured with
 * the receiver in a second process (as two peers run) and with both hosts in one process (one thread does both
 * sides' work). Then the fixed cost of a stream: CPU of both processes per stream that carries one 16-byte message.
 * Prints a table and writes bench-results/transfer.json; with `--write-docs` it also rewrites the "Model transfer"
 * section of docs/benchmarks.md, up to its first subsection.
 *
 *   pnpm build && node bench/dist/transfer.js [--write-docs]
 */

const BODY_BYTES = 4 * 1024 * 1024
const WARMUP_RUNS = 3
const RUNS = 11
const RUN_ID = 'bench'
const PROTOCOL = `/swarmgrad/${RUN_ID}/model/1.0.0`
/** A protocol whose streams carry one small message each: the fixed cost of a stream (open, negotiate, close). */
const SMALL_PROTOCOL = `/swarmgrad/${RUN_ID}/small/1.0.0`
const SMALL_MESSAGE_BYTES = 16
const SMALL_STREAMS = 200
const SMALL_WARMUP_STREAMS = 400
const SMALL_RUNS = 7
/** The receiver checks every meta before the body: a small envelope of the run, signed as from the sender. */
const EXPECT = { runId: RUN_ID, kinds: [MessageKind.PING] }
const RESULTS_FILE = 'bench-results/transfer.json'
const REPORT_FILE = 'docs/benchmarks.md'
const SECTION_TITLE = '## Model transfer'
const COMMAND = 'pnpm build && node bench/dist/transfer.js --write-docs'
const RECEIVER_ARG = '--receiver'
const WRITE_DOCS_ARG = '--write-docs'

interface ReceiverReady {
  multiaddr: string
  tcpPort: number
}

/** CPU time (user + system) this process has used, in ms. */
function cpuMs(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function mbPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000)
}

/** A TCP server that answers one byte each time it has read another `bytes` bytes on a connection. */
async function rawTcpSink(bytes: number): Promise<Server> {
  const server = createServer((socket) => {
    let received = 0
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength
      if (received === bytes) {
        received = 0
        socket.write(Buffer.from([1]))
      }
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  return server
}

function portOf(server: Server): number {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the TCP sink has no port')
  return address.port
}

async function rawTcpClient(
  port: number,
): Promise<{ run: (body: Uint8Array) => Promise<number>; socket: Socket }> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((ok) => socket.once('connect', ok))
  socket.setNoDelay(true)
  return {
    socket,
    run: async (body) => {
      const start = performance.now()
      const answered = new Promise<void>((ok) => socket.once('data', () => ok()))
      socket.write(body)
      await answered
      return performance.now() - start
    },
  }
}

async function receivingHost(): Promise<{ host: Host; transfer: BlobTransfer }> {
  const host = await createHost()
  const transfer = new BlobTransfer(host, {
    protocol: PROTOCOL,
    maxBodyBytes: BODY_BYTES,
    expect: EXPECT,
    onBlob: () => ({ accepted: true }),
  })
  await transfer.start()
  await host.libp2p.handle(SMALL_PROTOCOL, async (stream) => {
    for await (const _ of stream) {
      // read the message to its end
    }
    await stream.close()
  })
  return { host, transfer }
}

/** The child process: a receiving host and a TCP sink, until the parent disconnects. */
async function runReceiver(): Promise<void> {
  const { host } = await receivingHost()
  const sink = await rawTcpSink(BODY_BYTES)
  const ready: ReceiverReady = { multiaddr: host.multiaddrs[0]!.toString(), tcpPort: portOf(sink) }
  process.send?.(ready)
  process.on('message', () => process.send?.(cpuMs()))
  process.once('disconnect', () => {
    sink.close()
    void host.stop().then(() => process.exit(0))
  })
}

/** Asks the receiver process for its CPU time (one IPC round trip, outside any timed section). */
function childCpuMs(child: ChildProcess): Promise<number> {
  return new Promise((ok) => {
    child.once('message', (message) => ok(message as number))
    child.send('cpu')
  })
}

async function startReceiverProcess(): Promise<{ child: ChildProcess; ready: ReceiverReady }> {
  const child = fork(fileURLToPath(import.meta.url), [RECEIVER_ARG], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const ready = await new Promise<ReceiverReady>((ok, fail) => {
    child.once('message', (message) => ok(message as ReceiverReady))
    child.once('exit', (code) => fail(new Error(`the receiver process exited with ${code}`)))
  })
  return { child, ready }
}

interface Layout {
  name: string
  libp2pRuns: number[]
  libp2pCpuRuns: number[]
  tcpRuns: number[]
  sendBlob: () => Promise<number>
  sendTcp: () => Promise<number>
  /** CPU ms used so far by the processes that take part (sender and receiver). */
  cpu: () => Promise<number>
}

async function connectedSender(
  target: string,
): Promise<{ host: Host; transfer: BlobTransfer; peer: PeerId; meta: Uint8Array }> {
  const host = await createHost()
  const connection = await host.libp2p.dial(multiaddr(target))
  const meta = encodeEnvelope(
    createEnvelope({
      runId: RUN_ID,
      round: 0,
      sender: peerIdBytes(host.peerId),
      body: { case: 'ping', value: { nonce: 0, roundEstimate: 0 } },
    }),
  )
  return {
    host,
    transfer: new BlobTransfer(host, { protocol: PROTOCOL, maxBodyBytes: BODY_BYTES }),
    peer: connection.remotePeer,
    meta,
  }
}

async function main(): Promise<void> {
  const body = new Uint8Array(randomBytes(BODY_BYTES))
  const hosts: Host[] = []
  const closers: Array<() => void> = []
  try {
    const remote = await startReceiverProcess()
    closers.push(() => remote.child.disconnect())
    const remoteSender = await connectedSender(remote.ready.multiaddr)
    hosts.push(remoteSender.host)
    const remoteTcp = await rawTcpClient(remote.ready.tcpPort)
    closers.push(() => remoteTcp.socket.destroy())

    const local = await receivingHost()
    hosts.push(local.host)
    const localSender = await connectedSender(local.host.multiaddrs[0]!.toString())
    hosts.push(localSender.host)
    const localSink = await rawTcpSink(BODY_BYTES)
    closers.push(() => localSink.close())
    const localTcp = await rawTcpClient(portOf(localSink))
    closers.push(() => localTcp.socket.destroy())

    const timeBlob = (sender: { transfer: BlobTransfer; peer: PeerId; meta: Uint8Array }) => async () => {
      const start = performance.now()
      const result = await sender.transfer.send(sender.peer, sender.meta, body)
      if (!result.accepted) throw new Error(`transfer refused: ${result.code}`)
      return performance.now() - start
    }
    const layouts: Layout[] = [
      {
        name: 'two processes',
        libp2pRuns: [],
        libp2pCpuRuns: [],
        tcpRuns: [],
        sendBlob: timeBlob(remoteSender),
        sendTcp: () => remoteTcp.run(body),
        cpu: async () => cpuMs() + (await childCpuMs(remote.child)),
      },
      {
        name: 'one process',
        libp2pRuns: [],
        libp2pCpuRuns: [],
        tcpRuns: [],
        sendBlob: timeBlob(localSender),
        sendTcp: () => localTcp.run(body),
        cpu: async () => cpuMs(),
      },
    ]
    const hashRuns: number[] = []
    for (let i = 0; i < WARMUP_RUNS + RUNS; i++) {
      for (const layout of layouts) {
        const tcpMs = await layout.sendTcp()
        const cpuBefore = await layout.cpu()
        const libp2pMs = await layout.sendBlob()
        const cpuUsed = (await layout.cpu()) - cpuBefore
        if (i >= WARMUP_RUNS) {
          layout.tcpRuns.push(tcpMs)
          layout.libp2pRuns.push(libp2pMs)
          layout.libp2pCpuRuns.push(cpuUsed)
        }
      }
      const hashStart = performance.now()
      createHash('sha256').update(body).digest()
      if (i >= WARMUP_RUNS) hashRuns.push(performance.now() - hashStart)
    }
    if (local.transfer.bytesIn < (WARMUP_RUNS + RUNS) * BODY_BYTES) {
      throw new Error(`the local receiver got only ${local.transfer.bytesIn} bytes`)
    }
    const smallStream = async (): Promise<void> => {
      const stream = await remoteSender.host.libp2p.dialProtocol(remoteSender.peer, SMALL_PROTOCOL)
      stream.send(new Uint8Array(SMALL_MESSAGE_BYTES))
      await stream.close()
    }
    for (let i = 0; i < SMALL_WARMUP_STREAMS; i++) await smallStream()
    const smallCpuRuns: number[] = []
    for (let run = 0; run < SMALL_RUNS; run++) {
      const before = await layouts[0]!.cpu()
      for (let i = 0; i < SMALL_STREAMS; i++) await smallStream()
      smallCpuRuns.push(((await layouts[0]!.cpu()) - before) / SMALL_STREAMS)
    }
    await report(layouts, hashRuns, smallCpuRuns)
  } finally {
    for (const close of closers) close()
    await Promise.all(hosts.map((h) => h.stop()))
  }
}

interface Row {
  layout: string
  path: string
  medianMs: number
  mbPerSecond: number
  ratioToTcp: number
  runsMs: number[]
  /** CPU ms of sender and receiver together per transfer (libp2p rows only). */
  cpuMedianMs?: number
  cpuRunsMs?: number[]
}

async function report(layouts: Layout[], hashRuns: number[], smallCpuRuns: number[]): Promise<void> {
  const rows: Row[] = []
  for (const layout of layouts) {
    const tcpRate = mbPerSecond(BODY_BYTES, median(layout.tcpRuns))
    const row = (path: string, runsMs: number[]): Row => {
      const medianMs = median(runsMs)
      const rate = mbPerSecond(BODY_BYTES, medianMs)
      return { layout: layout.name, path, medianMs, mbPerSecond: rate, ratioToTcp: rate / tcpRate, runsMs }
    }
    rows.push({
      ...row('libp2p BlobTransfer (noise, yamux, sha-256, ack)', layout.libp2pRuns),
      cpuMedianMs: median(layout.libp2pCpuRuns),
      cpuRunsMs: layout.libp2pCpuRuns,
    })
    rows.push(row('raw Node.js TCP socket', layout.tcpRuns))
  }
  const hashMs = median(hashRuns)
  const cpuCell = (r: Row): string =>
    r.cpuMedianMs === undefined
      ? '—'
      : `${r.cpuMedianMs.toFixed(1)} (${mbPerSecond(BODY_BYTES, r.cpuMedianMs).toFixed(0)} MB per CPU-s)`
  const table = markdownTable(
    ['layout', 'path', 'median ms', 'MB/s', 'ratio to raw TCP', 'CPU ms, both sides'],
    ['left', 'left', 'right', 'right', 'right', 'right'],
    rows.map((r) => [
      r.layout,
      r.path,
      r.medianMs.toFixed(1),
      r.mbPerSecond.toFixed(0),
      r.ratioToTcp.toFixed(3),
      cpuCell(r),
    ]),
  )
  const load = loadavg()[0]!.toFixed(1)
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}`
  const note = `sha-256 of the body alone: ${hashMs.toFixed(1)} ms (done once by each side)`
  const smallCpuMs = median(smallCpuRuns)
  const smallNote =
    `A stream of its own for one ${SMALL_MESSAGE_BYTES}-byte message (open, negotiate the protocol, send, close), ` +
    `two processes: ${smallCpuMs.toFixed(2)} ms of CPU on both sides together (median of ${SMALL_RUNS} runs of ` +
    `${SMALL_STREAMS} streams after ${SMALL_WARMUP_STREAMS} warm-up; runs ${smallCpuRuns.map((ms) => ms.toFixed(2)).join(', ')})`
  console.log(`Model transfer: ${BODY_BYTES} bytes, median of ${RUNS} runs after ${WARMUP_RUNS} warm-up\n`)
  console.log(table)
  console.log(`\n${note}\n\n${smallNote}`)

  const date = new Date().toISOString()
  const json = {
    benchmark: 'transfer',
    loadAverage1m: Number(load),
    date,
    machine,
    bodyBytes: BODY_BYTES,
    warmupRuns: WARMUP_RUNS,
    runs: RUNS,
    hashMs,
    rows,
    smallStream: {
      messageBytes: SMALL_MESSAGE_BYTES,
      streamsPerRun: SMALL_STREAMS,
      cpuMedianMs: smallCpuMs,
      cpuRunsMs: smallCpuRuns,
    },
  }
  const jsonPath = resolve(RESULTS_FILE)
  await mkdir(dirname(jsonPath), { recursive: true })
  await writeFile(jsonPath, `${JSON.stringify(json, null, 2)}\n`)
  if (!process.argv.includes(WRITE_DOCS_ARG)) {
    console.log(
      `\nwrote ${RESULTS_FILE} (${REPORT_FILE} left alone: ${WRITE_DOCS_ARG} rewrites its "${SECTION_TITLE.slice(3)}" section)`,
    )
    return
  }

  const section = [
    SECTION_TITLE,
    '',
    `One ${BODY_BYTES / (1024 * 1024)} MiB body pushed between two hosts on 127.0.0.1 with \`BlobTransfer\`, ` +
      `median of ${RUNS} runs after ${WARMUP_RUNS} warm-up, interleaved with a raw TCP socket moving the same ` +
      `bytes; the receiver in a second process, then both hosts in one process. ${note}. CPU ms: user + ` +
      `system time of sender and receiver per transfer, far less sensitive than wall time to other load on the machine. ` +
      `${machine}, 1-minute load average ${load} during the run; ${date.slice(0, 10)}.`,
    '',
    '```',
    COMMAND,
    '```',
    '',
    table,
    '',
    `${smallNote}.`,
    '',
  ].join('\n')
  const reportPath = resolve(REPORT_FILE)
  let existing = '# Benchmarks\n'
  try {
    existing = await readFile(reportPath, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dirname(reportPath), { recursive: true })
  await writeFile(reportPath, replaceDocSection(existing, SECTION_TITLE, section))
  console.log(`\nwrote ${RESULTS_FILE} and the "${SECTION_TITLE}" section of ${REPORT_FILE}`)
}

/** A Markdown table with padded columns, as the repository's formatter (biome) lays tables out. */
function markdownTable(header: string[], align: Array<'left' | 'right'>, body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const cell = (text: string, i: number): string =>
    align[i] === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!)
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`
  const rule = widths.map((w, i) => (align[i] === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w)))
  return [line(header), `| ${rule.join(' | ')} |`, ...body.map(line)].join('\n')
}

if (process.argv.includes(RECEIVER_ARG)) await runReceiver()
else await main()
