/** The exit codes of every swarmgrad command, in one table. */
export const EXIT = {
  /** done */
  OK: 0,
  /** failed while running */
  FAILED: 1,
  /** bad usage, configuration, data or journal: nothing was started */
  USAGE: 2,
} as const
