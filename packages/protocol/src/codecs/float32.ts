import { CodedError } from '../errors.js'
import { type Tensor, TensorCodec } from '../generated/swarmgrad.js'
import { bytesToFloat32, float32ToBytes } from './bytes.js'
import { firstNonFinite } from './finite.js'
import {
  type DenseTensor,
  type EncodePlan,
  emptyFields,
  type TensorCodecDefinition,
  viewPlan,
} from './types.js'

export interface Float32Input {
  readonly codec: typeof TensorCodec.FLOAT32
  readonly values: Float32Array
  readonly shape?: readonly number[]
}

/** Throws NON_FINITE naming the first NaN or infinity of `values`. */
export function assertFinite(values: Float32Array, what: string): void {
  const bad = firstNonFinite(values)
  if (bad >= 0) {
    throw new CodedError('NON_FINITE', `${what}[${bad}] is ${values[bad]}`, { index: bad })
  }
}

/**
 * float32: raw little-endian float32, exact (error 0). Encoding is a view of the input (the message writer makes
 * the one copy); decoding is a view of the received bytes when they are 4-byte aligned, one copy otherwise (or a
 * copy into `into`). A decoded view shares memory with the message it came from.
 */
export const FLOAT32_CODEC: TensorCodecDefinition<Float32Input> = {
  codec: TensorCodec.FLOAT32,
  name: 'float32',
  errorBound: 'exact',
  fields: ['data'],
  plan(input: Float32Input): EncodePlan {
    assertFinite(input.values, 'values')
    return viewPlan(emptyFields(input.values.length), float32ToBytes(input.values))
  },
  decode(tensor: Tensor, into?: Float32Array): DenseTensor {
    if (tensor.data.byteLength !== tensor.length * 4) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `float32 data has ${tensor.data.byteLength} bytes, expected ${tensor.length * 4}`,
        { bytes: tensor.data.byteLength, length: tensor.length },
      )
    }
    const view = bytesToFloat32(tensor.data)
    assertFinite(view, 'float32 data')
    if (into !== undefined) into.set(view)
    return { kind: 'dense', codec: TensorCodec.FLOAT32, shape: tensor.shape, values: into ?? view }
  },
}
