import { type CoordinatorOptions, createCoordinator } from '@swarmgrad/coordinator'
import { runUntilSignalled } from '@swarmgrad/net'
import { EXIT } from './exit-codes.js'

/**
 * Runs the coordinator until its rounds are done or a signal arrives (the first SIGINT/SIGTERM stops it gracefully,
 * a second one exits at once). A bad journal or data set throws before any socket opens.
 */
export async function runCoordinatorCommand(options: CoordinatorOptions): Promise<number> {
  const coordinator = await createCoordinator(options, { start: false })
  await runUntilSignalled(coordinator, coordinator.logger)
  return EXIT.OK
}
