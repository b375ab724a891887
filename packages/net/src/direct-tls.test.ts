import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { connect, createServer } from 'node:tls'
import { afterEach, describe, expect, it } from 'vitest'
import { DIRECT_TLS } from './direct.js'

const closers: Array<() => void> = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
})

/** The suite a TLS-PSK handshake on 127.0.0.1 agrees on, with `clientCiphers` offered by the client. */
async function negotiated(clientCiphers: string): Promise<string> {
  const psk = randomBytes(32)
  const server = createServer({ ...DIRECT_TLS, pskCallback: () => psk }, (socket) => socket.end())
  closers.push(() => server.close())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return new Promise<string>((resolve, reject) => {
    const socket = connect({
      ...DIRECT_TLS,
      ciphers: clientCiphers,
      host: '127.0.0.1',
      port,
      pskCallback: () => ({ psk, identity: 'client' }),
      checkServerIdentity: () => undefined,
    })
    closers.push(() => socket.destroy())
    socket.once('secureConnect', () => resolve(socket.getCipher().standardName))
    socket.once('error', reject)
  })
}

describe('the direct path TLS settings', () => {
  it('agree on AES-128-GCM with a PSK, also with a client that prefers ChaCha20-Poly1305', async () => {
    expect(await negotiated(DIRECT_TLS.ciphers)).toBe('TLS_AES_128_GCM_SHA256')
    expect(await negotiated('TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256')).toBe(
      'TLS_AES_128_GCM_SHA256',
    )
  })

  it('still connect a client that offers ChaCha20-Poly1305 alone', async () => {
    expect(await negotiated('TLS_CHACHA20_POLY1305_SHA256')).toBe('TLS_CHACHA20_POLY1305_SHA256')
  })
})
