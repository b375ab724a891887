import { defineConfig } from 'vitest/config'

// Unit tests sit beside the code they test; swarm (in-process libp2p), process (the real CLI) and docker tests live
// in each package's test/ folder. `pnpm test` builds first, because process tests start the compiled CLI.
export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    setupFiles: ['packages/protocol/src/polyfill.ts'],
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['packages/*/src/**/*.test.ts'], testTimeout: 30_000 },
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
          include: ['packages/*/test/process/**/*.test.ts'],
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
          include: ['packages/*/test/docker/**/*.test.ts'],
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
