import type { Logger } from 'pino'

/** A long-running service of the CLIs: a peer or the coordinator. */
export interface Service {
  start(): Promise<void>
  run(): Promise<void>
  stop(): Promise<void>
}

/**
 * Starts `service` and runs it to its end. The first SIGINT/SIGTERM stops it gracefully (`run` then returns);
 * a second one exits the process at once with code 130. The service is stopped however `run` ends.
 */
export async function runUntilSignalled(service: Service, logger: Logger): Promise<void> {
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(130)
    }
    logger.info({ signal }, 'stopping')
    service.stop().catch((err: unknown) => logger.error({ err }, 'stop failed'))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    await service.start()
    await service.run()
  } finally {
    await service.stop()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
