import type { Logger } from 'pino'

/** What decides who may connect: where the host listens, and its pre-shared key and allow-list. */
interface AdmissionOptions {
  readonly listen: readonly string[]
  readonly pskFile?: string | undefined
  readonly allowPeers: readonly string[]
}

function isLoopback(address: string): boolean {
  const [, protocol, host] = address.split('/')
  if (protocol === 'ip4') return host?.startsWith('127.') === true
  if (protocol === 'ip6') return host === '::1' || host === '0:0:0:0:0:0:0:1'
  return (protocol === 'dns' || protocol === 'dns4' || protocol === 'dns6') && host === 'localhost'
}

/**
 * The listen addresses other machines may reach (anything but a loopback address) when the host admits every peer
 * that reaches it: no pre-shared key and no allow-list. Empty when the host is private or only on loopback.
 */
function openListenAddresses(options: AdmissionOptions): string[] {
  if (options.pskFile !== undefined || options.allowPeers.length > 0) return []
  return options.listen.filter((address) => !isLoopback(address))
}

/** Logs one warning at start when `openListenAddresses` finds any, naming the risk and the two ways to close it. */
export function warnIfOpen(options: AdmissionOptions, logger: Logger): void {
  const open = openListenAddresses(options)
  if (open.length === 0) return
  logger.warn(
    { listen: open },
    'open swarm: listening beyond loopback without a swarm key or an allow-list, so any peer that reaches this ' +
      "address can join the run, send it models and read the swarm's. Make it private with a swarm key " +
      '(`swarmgrad psk --out swarm.key`, then --host-psk-file / SWARMGRAD_HOST_PSK_FILE on every peer and the ' +
      'coordinator) and/or an allow-list of peer ids (--host-allow-peers / SWARMGRAD_HOST_ALLOW_PEERS)',
  )
}
