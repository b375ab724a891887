import { createHost, type Host, type HostOptions } from '../../src/host/index.js'

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. A condition wait, not a sleep. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Hosts created by a test, all stopped by `stopAll` (call it in afterEach, so it runs even on failure). */
export class HostPool {
  readonly hosts: Host[] = []

  async create(options: HostOptions = {}): Promise<Host> {
    const host = await createHost({ listen: ['/ip4/127.0.0.1/tcp/0'], ...options })
    this.hosts.push(host)
    return host
  }

  /** A star: `n` hosts, every one after the first bootstrapping to the first; resolves once all are connected. */
  async star(n: number, options: HostOptions = {}): Promise<Host[]> {
    const hub = await this.create(options)
    const bootstrap = [hub.multiaddrs[0]!.toString()]
    const spokes = await Promise.all(
      Array.from({ length: n - 1 }, () => this.create({ ...options, bootstrap })),
    )
    await waitFor(() => hub.connectedPeers().length === n - 1, `${n - 1} peers connected to the hub`)
    return [hub, ...spokes]
  }

  async stopAll(): Promise<void> {
    const hosts = this.hosts.splice(0)
    await Promise.all(hosts.map((h) => h.stop()))
  }
}
