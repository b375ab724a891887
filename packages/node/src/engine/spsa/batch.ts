import {
  CodedError,
  createEnvelope,
  decodeEnvelope,
  encodeEnvelope,
  MessageKind,
  peerIdBytes,
  type RoundWindow,
} from '@swarmgrad/protocol'

/** A scalar batch held for a round: what it says, and its envelope as received (what the log serves). */
export interface HeldBatch {
  readonly sender: string
  readonly scalars: Uint8Array
  /** Hash of the model of round − 1 the sender computed on; empty when the batch carries none. */
  readonly modelHash: Uint8Array
  readonly envelope: Uint8Array
}

/** What every batch of a run must agree with. */
export interface BatchRules {
  readonly runId: string
  /** J, the scalars per batch. */
  readonly scalars: number
  /** The run's grid offset c, as a float32. */
  readonly gridOffset: number
}

/** The gossip message of `sender`'s scalars of `round`, computed on the model hashed `computedOn` (or empty). */
export function encodeBatch(
  rules: BatchRules,
  round: number,
  sender: string,
  scalars: Uint8Array,
  computedOn: Uint8Array,
): Uint8Array {
  const id = peerIdBytes(sender)
  return encodeEnvelope(
    createEnvelope({
      runId: rules.runId,
      round,
      sender: id,
      body: {
        case: 'spsaScalarBatch',
        value: {
          round,
          sender: id,
          count: scalars.length,
          scalars,
          gridOffset: rules.gridOffset,
          modelHash: computedOn,
        },
      },
    }),
  )
}

/**
 * Checks a batch as it arrives (from `sender`, in `window` when given) and returns its round and what it holds;
 * throws a CodedError naming what is wrong.
 */
export function decodeBatch(
  rules: BatchRules,
  data: Uint8Array,
  sender: string,
  window: RoundWindow | undefined,
): { round: number; batch: HeldBatch } {
  const envelope = decodeEnvelope(data, {
    runId: rules.runId,
    kinds: [MessageKind.SPSA_SCALAR_BATCH],
    sender: peerIdBytes(sender),
    ...(window === undefined ? {} : { roundWindow: window }),
  })
  if (envelope.body?.case !== 'spsaScalarBatch') throw new CodedError('WRONG_TYPE', 'not a scalar batch')
  const body = envelope.body.value
  if (body.round === 0) throw new CodedError('MALFORMED', 'scalar batch for round 0')
  if (body.count !== rules.scalars) {
    throw new CodedError('SHAPE_MISMATCH', `batch of ${body.count} scalars, the run uses ${rules.scalars}`)
  }
  if (body.gridOffset !== rules.gridOffset) {
    throw new CodedError('MALFORMED', `grid offset ${body.gridOffset} is not the run's ${rules.gridOffset}`)
  }
  return {
    round: body.round,
    batch: { sender, scalars: body.scalars.slice(), modelHash: body.modelHash.slice(), envelope: data },
  }
}

/** The sender named inside a batch envelope (a log names no transport sender for the batches it relays). */
export function batchSender(rules: BatchRules, data: Uint8Array): string {
  const { sender } = decodeEnvelope(data, { runId: rules.runId, kinds: [MessageKind.SPSA_SCALAR_BATCH] })
  return new TextDecoder('utf-8', { fatal: true }).decode(sender)
}
