import type { ComponentLogger, Logger } from '@libp2p/interface'

/** A libp2p logger that writes nothing and whose scopes are itself. */
const silent: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: (): Logger => silent,
})

const SILENT_COMPONENT_LOGGER: ComponentLogger = { forComponent: () => silent }

/**
 * The logger libp2p's components get. Its default builds `debug` loggers for every stream it opens or accepts
 * (several per stream, each asking whether stderr is a terminal, a system call), and writes nothing unless the
 * `DEBUG` environment variable names libp2p's namespaces. Without `DEBUG` a host gives libp2p a logger that
 * builds nothing; with it, libp2p's own (`undefined`: libp2p's default).
 */
export function libp2pLogger(env: NodeJS.ProcessEnv = process.env): ComponentLogger | undefined {
  return env.DEBUG === undefined || env.DEBUG.trim() === '' ? SILENT_COMPONENT_LOGGER : undefined
}
