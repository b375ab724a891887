import type { NodeOptions } from '@swarmgrad/config'
import { createLogger, runUntilSignalled } from '@swarmgrad/net'
import { createNode } from '@swarmgrad/node'
import { EXIT } from './exit-codes.js'

/**
 * Runs one peer until its rounds are done or a signal arrives. The first SIGINT/SIGTERM stops it gracefully (the
 * round in progress is abandoned, a leave is announced, streams close); a second one exits at once.
 */
export async function runNodeCommand(options: NodeOptions): Promise<number> {
  const logger = createLogger(options.log)
  const node = await createNode(options, {
    logger,
    start: false,
    onRound: (r) =>
      logger.info(
        {
          round: r.round,
          loss: r.trainLoss,
          ...(r.testAccuracy === undefined ? {} : { acc: r.testAccuracy, testLoss: r.testLoss }),
          ...(r.testMse === undefined ? {} : { mse: r.testMse, mae: r.testMae }),
          merged: r.merged,
          sent: r.sent,
          peers: r.peers,
          bytesOut: r.bytesSent,
          bytesIn: r.bytesReceived,
          ...(r.payloadBytesSent === undefined ? {} : { payloadOut: r.payloadBytesSent }),
          secs: r.seconds,
          trainSecs: r.trainSeconds,
          ...(r.trainCpuSeconds === undefined ? {} : { trainCpuSecs: r.trainCpuSeconds }),
        },
        'round done',
      ),
  })
  await runUntilSignalled(node, logger)
  return EXIT.OK
}
