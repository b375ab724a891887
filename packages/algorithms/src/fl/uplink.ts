import {
  type CodecName,
  decodeModelPayload,
  encodeModelPayload,
  modelTensor,
  TensorCodec,
  type TensorInput,
  toDense,
} from '@swarmgrad/protocol'
import { ErrorFeedback } from '../compressors/error-feedback.js'
import { randomK } from '../compressors/random-k.js'
import { topK } from '../compressors/top-k.js'

/**
 * Turns an update vector into the uplink tensor and tells what the server will decode from it (`sent`), which the
 * SCAFFOLD family adds to c_i and error feedback subtracts from its residual.
 */
export class UplinkEncoder {
  readonly #feedback:
    | ErrorFeedback<{ ratio: number }, { length: number; indices: Uint32Array; values: Float32Array }>
    | undefined

  constructor(
    readonly codec: CodecName,
    readonly ratio: number,
    paramCount: number,
    errorFeedback: boolean,
  ) {
    this.#feedback =
      codec === 'top-k' && errorFeedback ? new ErrorFeedback(topK, paramCount, { ratio }) : undefined
  }

  /**
   * The tensor input and its decoded value, `sent`, which is decoded on first read: only the algorithms that use it
   * pay for an encode and decode of the whole update. `seed` draws random-k's positions.
   */
  encode(
    vector: Float32Array,
    seed: Uint8Array,
  ): { readonly input: TensorInput; readonly sent: Float32Array } {
    const length = vector.length
    let input: TensorInput
    switch (this.codec) {
      case 'float32':
      case 'float16':
      case 'int8':
        input = modelTensor(this.codec, vector)
        break
      case 'top-k': {
        const payload =
          this.#feedback === undefined
            ? topK.compress(vector, { ratio: this.ratio })
            : this.#feedback.compress(vector).payload
        input = { codec: TensorCodec.TOP_K, length, indices: payload.indices, values: payload.values }
        break
      }
      case 'random-k': {
        const payload = randomK.compress(vector, { ratio: this.ratio }, seed)
        input = { codec: TensorCodec.RANDOM_K, length, seed: payload.seed, values: payload.values }
        break
      }
    }
    let sent: Float32Array | undefined
    return {
      input,
      get sent(): Float32Array {
        sent ??= toDense(decodeModelPayload(encodeModelPayload(input), { paramCount: length }))
        return sent
      },
    }
  }
}
