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
  /** J, the scalars per batch (the grid offset needs no check: the run id fixes it, and J, for every peer). */
  readonly scalars: number
}

/**
 * The gossip message of `sender`'s scalars of `round`, computed on the model hashed `computedOn` (or empty): the
 * envelope carries the round, the sender and the hash, the body only the scalars.
 */
export function encodeBatch(
  rules: BatchRules,
  round: number,
  sender: string,
  scalars: Uint8Array,
  computedOn: Uint8Array,
): Uint8Array {
  return encodeEnvelope(
    createEnvelope({
      runId: rules.runId,
      round,
      sender: peerIdBytes(sender),
      modelHash: computedOn,
      body: { case: 'spsaScalarBatch', value: { scalars } },
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
  const { scalars } = envelope.body.value
  if (scalars.byteLength !== rules.scalars) {
    throw new CodedError(
      'SHAPE_MISMATCH',
      `batch of ${scalars.byteLength} scalars, the run uses ${rules.scalars}`,
    )
  }
  return {
    round: envelope.round,
    batch: { sender, scalars: scalars.slice(), modelHash: envelope.modelHash.slice(), envelope: data },
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The sender named inside a batch envelope (a log names no transport sender for the batches it relays); a name that
 * is not UTF-8 is MALFORMED.
 */
export function batchSender(rules: BatchRules, data: Uint8Array): string {
  const { sender } = decodeEnvelope(data, { runId: rules.runId, kinds: [MessageKind.SPSA_SCALAR_BATCH] })
  try {
    return UTF8.decode(sender)
  } catch {
    throw new CodedError('MALFORMED', 'scalar batch sender is not UTF-8')
  }
}
