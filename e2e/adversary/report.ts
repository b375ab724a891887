/** The figures of one attack, printed as one JSON line (they feed the results table of docs/security.md). */
export interface AttackFigures {
  readonly attack: string
  /** What the hostile peer sent, in words and counts. */
  readonly sent: string
  readonly sentCount: number
  /** Requests the targets refused (reset, or answered with a refusal), as the hostile peer saw them. */
  readonly refused: number
  /** Growth of swarmgrad_node_messages_rejected_total over the attack, summed over the targets. */
  readonly rejectedCounted: number
  /** Peer processes that exited during the attack. */
  readonly exits: number
  readonly accuracyBefore?: number
  readonly accuracyAfter?: number
  readonly roundsBefore?: number
  readonly roundsAfter?: number
  readonly rssGrowthMiB?: number
  readonly [extra: string]: unknown
}

/** Prints the figures to stdout, one line, prefixed so it can be picked out of the test output. */
export function report(figures: AttackFigures): void {
  process.stdout.write(`ADVERSARY ${JSON.stringify(figures)}\n`)
}
