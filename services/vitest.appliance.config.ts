import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// The appliance in a real Docker engine (test/appliance): one file, one fork, long steps.
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    include: ['test/appliance/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 1_200_000,
    hookTimeout: 3_000_000,
  },
});
