import type { NodeMetrics } from '../metrics/index.js'
import type { Evaluation, RoundReport } from './types.js'

/** Sets the gauges of an evaluation: its loss, and its accuracy (a classifier) or MSE and MAE (regression). */
export function recordEvaluation(metrics: NodeMetrics, evaluation: Evaluation | undefined): void {
  if (evaluation === undefined) return
  metrics.evalLoss.set(evaluation.loss)
  if (evaluation.accuracy !== undefined) metrics.evalAccuracy.set(evaluation.accuracy)
  if (evaluation.mse !== undefined) metrics.evalMse.set(evaluation.mse)
  if (evaluation.mae !== undefined) metrics.evalMae.set(evaluation.mae)
}

/** The test fields of a round's report; all undefined when the round was not evaluated. */
export function testReport(
  evaluation: Evaluation | undefined,
): Pick<RoundReport, 'testLoss' | 'testAccuracy' | 'testMse' | 'testMae'> {
  return {
    testLoss: evaluation?.loss,
    testAccuracy: evaluation?.accuracy,
    testMse: evaluation?.mse,
    testMae: evaluation?.mae,
  }
}
