/**
 * One compression scheme for flat float32 vectors (model deltas, control-variate updates). The payloads are plain
 * typed arrays; the wire codecs in @swarmgrad/protocol put them into `Tensor` messages.
 */
export interface CompressorDefinition<O extends object = object, P = unknown> {
  /** Registry key and config value. */
  readonly name: string
  readonly description: string
  /** Options applied when the caller leaves them out. */
  readonly defaults: Readonly<O>
  /** Whether E[decompress(compress(x))] = x over the seed, under these options (else it is a biased contraction). */
  isUnbiased(options?: Partial<O>): boolean
  /** Whether `compress` needs a seed under these options (and refuses to run without one). */
  needsSeed(options?: Partial<O>): boolean
  /** Compresses a finite, non-empty vector; never modifies it. */
  compress(x: Float32Array, options?: Partial<O>, seed?: Uint8Array): P
  /** The dense vector a payload stands for; validates the payload first (it may come off the wire). */
  decompress(payload: P): Float32Array
}
