import { defineConfig } from 'vitest/config'

// Unit tests sit beside the code they test (and the benchmarks' beside theirs); swarm tests (in-process libp2p) live
// in each package's test/ folder; process (the real CLI) and docker tests are the e2e package's. `pnpm test` builds
// first, because process tests start the compiled CLI.
export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'packages/*/test/compliance/**/*.test.ts',
            'bench/src/**/*.test.ts',
          ],
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'swarm',
          include: ['packages/*/test/swarm/**/*.test.ts'],
          // the heavy projects run one after another (unit, swarm, process, docker): on two cores, a swarm of
          // trainers next to peer processes would only slow both down
          sequence: { groupOrder: 1 },
          testTimeout: 300_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'process',
          include: ['e2e/process/**/*.test.ts'],
          sequence: { groupOrder: 2 },
          testTimeout: 300_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          // a Docker engine of its own, images built locally, the real docker-compose.yml (README, "Local cluster")
          name: 'docker',
          include: ['e2e/docker/**/*.test.ts'],
          // after every other project: its containers would otherwise compete for the cores with timed swarms
          sequence: { groupOrder: 3 },
          testTimeout: 600_000,
          hookTimeout: 1_200_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
