import { evalEveryOf } from '@swarmgrad/config'
import {
  createModestMetrics,
  type ModestAnswer,
  ModestEngine,
  type ModestHandlers,
  type ModestModelMessage,
  type ModestTransport,
  type ViewEntries,
} from '@swarmgrad/node'
import {
  CodedError,
  decodeTensor,
  encodeTensor,
  type ModelCodecName,
  modelTensor,
  toDense,
} from '@swarmgrad/protocol'
import type { SimModeFactory } from './mode.js'
import type { VirtualNetwork } from './network.js'

/** Transfer deadline of a MoDeST peer beyond its ping and aggregation timeouts (the node's exchange.sendTimeoutMs). */
const SEND_TIMEOUT_MS = 30_000

/**
 * Sizes of what is not a model on the wire, estimated from the protobuf messages the libp2p transport sends (an
 * Envelope with run id, sender and round around the body, a 4-byte frame length): a ping or pong, a model ack, one
 * view entry (a 52-character peer id, round, counter, status, one address) and a model's header.
 */
const WIRE_BYTES = { ping: 120, ack: 40, viewEntry: 80, modelHeader: 200 } as const

function viewBytes(view: ViewEntries): number {
  return WIRE_BYTES.ping + view.length * WIRE_BYTES.viewEntry
}

/**
 * A model as the receivers see it after the run's codec, and its size on the wire. float32 is lossless: the array
 * itself is handed on (receivers never write to it). Lossy codecs decode once per array, so the s receivers of one
 * aggregate share the decoded copy.
 */
export class WireCodec {
  readonly #codec: ModelCodecName
  readonly #decoded = new WeakMap<Float32Array, { params: Float32Array; bytes: number }>()

  constructor(codec: ModelCodecName) {
    this.#codec = codec
  }

  carry(params: Float32Array): { params: Float32Array; bytes: number } {
    if (this.#codec === 'float32') return { params, bytes: params.length * 4 }
    let out = this.#decoded.get(params)
    if (out === undefined) {
      const tensor = encodeTensor(modelTensor(this.#codec, params))
      out = {
        params: toDense(decodeTensor(tensor, { paramCount: params.length })),
        bytes: tensor.data.length,
      }
      this.#decoded.set(params, out)
    }
    return out
  }
}

/** MoDeST's transport for one virtual peer: pings, views and models over the in-memory network. */
export class VirtualModestTransport implements ModestTransport {
  readonly #self: string
  readonly #network: VirtualNetwork
  readonly #codec: WireCodec
  readonly #registry: Map<string, ModestHandlers>

  constructor(
    self: string,
    network: VirtualNetwork,
    codec: WireCodec,
    registry: Map<string, ModestHandlers>,
  ) {
    this.#self = self
    this.#network = network
    this.#codec = codec
    this.#registry = registry
  }

  async start(handlers: ModestHandlers): Promise<void> {
    this.#registry.set(this.#self, handlers)
  }

  async stop(): Promise<void> {
    this.#registry.delete(this.#self)
  }

  ping(peer: string, roundEstimate: number, signal: AbortSignal): Promise<number> {
    return this.#network.request(
      this.#self,
      peer,
      WIRE_BYTES.ping,
      () => ({ value: this.#handlers(peer).onPing(this.#self, roundEstimate), bytes: WIRE_BYTES.ping }),
      signal,
    )
  }

  exchangeView(peer: string, view: ViewEntries, signal: AbortSignal): Promise<ViewEntries> {
    return this.#network.request(
      this.#self,
      peer,
      viewBytes(view),
      () => {
        const theirs = this.#handlers(peer).onView(this.#self, view)
        return { value: theirs, bytes: viewBytes(theirs) }
      },
      signal,
    )
  }

  sendModel(peer: string, message: ModestModelMessage, signal: AbortSignal): Promise<ModestAnswer> {
    const { params, bytes } = this.#codec.carry(message.params)
    const size = bytes + WIRE_BYTES.modelHeader + message.view.length * WIRE_BYTES.viewEntry
    return this.#network.request(
      this.#self,
      peer,
      size,
      async () => ({
        value: await this.#handlers(peer).onModel(this.#self, { ...message, params }),
        bytes: WIRE_BYTES.ack,
      }),
      signal,
    )
  }

  connectedPeers(): string[] {
    return this.#network.contacts(this.#self)
  }

  selfAddrs(): Uint8Array[] {
    return []
  }

  bytes(): { sent: number; received: number } {
    return this.#network.bytes(this.#self)
  }

  #handlers(peer: string): ModestHandlers {
    const handlers = this.#registry.get(peer)
    if (handlers === undefined) throw new CodedError('UNREACHABLE', `${peer} does not run MoDeST`)
    return handlers
  }
}

/** MoDeST: every virtual peer runs the daemon's ModestEngine over a VirtualModestTransport; no services. */
export const modestMode: SimModeFactory = (env) => {
  const { options, network, codec, clock, metrics, logger, onRound } = env
  const { modest } = options
  const modestMetrics = createModestMetrics(env.registry)
  const handlers = new Map<string, ModestHandlers>()
  const transferTimeoutMs = 2 * modest.aggregationTimeoutMs + 4 * modest.pingTimeoutMs + SEND_TIMEOUT_MS
  return {
    services: [],
    peer: (_index, id, model) =>
      new ModestEngine(
        {
          ...modest,
          peerId: id,
          seed: options.seed,
          rounds: options.rounds,
          evalEvery: evalEveryOf({ mode: 'modest', train: options.train }),
          transferTimeoutMs,
        },
        model,
        new VirtualModestTransport(id, network, codec, handlers),
        { logger: logger.child({ peer: id }), metrics, modestMetrics, onRound, clock },
      ),
  }
}
