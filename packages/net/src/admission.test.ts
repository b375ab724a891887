import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { warnIfOpen } from './admission.js'

/** The warnings `warnIfOpen` logs for `options`. */
function warnings(options: Parameters<typeof warnIfOpen>[0]): Array<{ msg: string; listen: string[] }> {
  const lines: string[] = []
  warnIfOpen(options, pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }))
  return lines.map((line) => JSON.parse(line) as { msg: string; listen: string[] })
}

describe('warnIfOpen', () => {
  it('warns once, naming the reachable addresses, the risk and both remedies, when nothing restricts who connects', () => {
    const logged = warnings({
      listen: ['/ip4/127.0.0.1/tcp/9000', '/ip4/0.0.0.0/tcp/9000', '/ip6/::/tcp/9000', '/ip4/10.0.0.5/tcp/1'],
      allowPeers: [],
    })
    expect(logged).toHaveLength(1)
    expect(logged[0]!.listen).toEqual(['/ip4/0.0.0.0/tcp/9000', '/ip6/::/tcp/9000', '/ip4/10.0.0.5/tcp/1'])
    expect(logged[0]!.msg).toContain('any peer that reaches this address can join the run')
    expect(logged[0]!.msg).toContain('SWARMGRAD_HOST_PSK_FILE')
    expect(logged[0]!.msg).toContain('SWARMGRAD_HOST_ALLOW_PEERS')
    expect(logged[0]!.msg).toContain('swarmgrad psk --out')
  })

  it('stays silent on loopback only, with a swarm key, or with an allow-list', () => {
    expect(
      warnings({
        listen: ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0', '/dns4/localhost/tcp/1'],
        allowPeers: [],
      }),
    ).toEqual([])
    expect(
      warnings({ listen: ['/ip4/0.0.0.0/tcp/9000'], pskFile: '/run/swarm.key', allowPeers: [] }),
    ).toEqual([])
    expect(warnings({ listen: ['/ip4/0.0.0.0/tcp/9000'], allowPeers: ['12D3KooWexample'] })).toEqual([])
  })
})
