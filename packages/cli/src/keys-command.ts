import { createIdentityFile, createPskFile } from '@swarmgrad/net'
import { EXIT } from './exit-codes.js'

/** `keygen`: a new identity in `out`; its peer id alone on stdout (for scripts), what was written on stderr. */
export async function runKeygen(out: string): Promise<number> {
  const peerId = await createIdentityFile(out)
  process.stdout.write(`${peerId}\n`)
  process.stderr.write(
    `swarmgrad: wrote a new identity to ${out} (mode 0600); use it with --host-identity-file or SWARMGRAD_HOST_IDENTITY_FILE\n`,
  )
  return EXIT.OK
}

/** `psk`: a new swarm key in `out`, and on stderr what was written and how to use it. */
export async function runPsk(out: string): Promise<number> {
  await createPskFile(out)
  process.stderr.write(
    `swarmgrad: wrote a new swarm key to ${out} (mode 0600); give every peer and the coordinator a copy with --host-psk-file or SWARMGRAD_HOST_PSK_FILE\n`,
  )
  return EXIT.OK
}
