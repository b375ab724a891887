import { CodedError } from '@swarmgrad/protocol'
import { assertFiniteVector } from '../validate.js'
import type { CompressorDefinition } from './types.js'

/** What one error-feedback step sends, and what the receiver will reconstruct from it. */
export interface ErrorFeedbackStep<P> {
  readonly payload: P
  readonly decompressed: Float32Array
}

/**
 * Error feedback (Seide et al. 2014; Karimireddy et al. 2019): keeps the residual e of what compression dropped
 * and adds it back next time — send C(x + e), then e ← x + e − D(C(x + e)). Over any run, the sum of what was
 * sent plus the final residual equals the sum of the inputs, so nothing is lost for good. The residual is kept
 * in float64 so that bookkeeping holds to rounding of float64, not float32.
 */
export class ErrorFeedback<O extends object, P> {
  readonly length: number
  private readonly residualValues: Float64Array
  private readonly corrected: Float32Array

  constructor(
    readonly compressor: CompressorDefinition<O, P>,
    length: number,
    readonly options?: Partial<O>,
  ) {
    if (!Number.isInteger(length) || length < 1) {
      throw new CodedError('BAD_ARGUMENT', `error feedback length must be a positive integer, got ${length}`)
    }
    this.length = length
    this.residualValues = new Float64Array(length)
    this.corrected = new Float32Array(length)
  }

  /** Compresses x plus the residual, and keeps what the payload misses as the new residual. */
  compress(x: Float32Array, seed?: Uint8Array): ErrorFeedbackStep<P> {
    assertFiniteVector(x, 'error feedback input')
    this.assertLength(x.length)
    const e = this.residualValues
    const corrected = this.corrected
    for (let i = 0; i < this.length; i++) corrected[i] = (x[i] as number) + (e[i] as number)
    const payload = this.compressor.compress(corrected, this.options, seed)
    const decompressed = this.compressor.decompress(payload)
    for (let i = 0; i < this.length; i++) {
      e[i] = (x[i] as number) + (e[i] as number) - (decompressed[i] as number)
    }
    return { payload, decompressed }
  }

  /** A copy of the current residual (for checkpoints). */
  residual(): Float64Array {
    return Float64Array.from(this.residualValues)
  }

  /** Restores a residual saved with `residual()`. */
  restoreResidual(values: Float64Array | Float32Array): void {
    this.assertLength(values.length)
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw new CodedError('NON_FINITE', `residual has ${values[i]} at index ${i}`, { index: i })
      }
    }
    this.residualValues.set(values)
  }

  /** Forgets the residual (e.g. after a resync replaced the model). */
  reset(): void {
    this.residualValues.fill(0)
  }

  private assertLength(length: number): void {
    if (length !== this.length) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `vector of ${length} elements for error feedback of ${this.length}`,
        {
          length,
          expected: this.length,
        },
      )
    }
  }
}
