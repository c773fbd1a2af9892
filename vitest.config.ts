import { defineConfig } from 'vitest/config'

// One configuration for every tier. Unit and simulation tests are pure and fast; integration
// tests start real processes and raise their own timeouts per test.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
