import { waitFor } from '@swarmgrad/testing'
import { createHost, type Host, type HostOptions } from '../src/index.js'

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
