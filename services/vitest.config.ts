import swc from 'unplugin-swc';
import { configDefaults, defineConfig } from 'vitest/config';

// SWC keeps decorator metadata (esbuild drops it, which breaks NestJS injection).
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    include: ['test/**/*.test.ts'],
    // the Docker appliance test has its own run (vitest.appliance.config.ts, npm run test:appliance)
    exclude: [...configDefaults.exclude, 'test/appliance/**'],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
