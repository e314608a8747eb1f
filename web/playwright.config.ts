import path from 'node:path';
import { defineConfig } from '@playwright/test';

// Debian's Chromium, never a downloaded browser (no `npx playwright install` on this box).
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const jsonReport = process.env.PODBRAIN_PLAYWRIGHT_JSON ?? path.resolve(import.meta.dirname, '../.tmp/playwright.json');

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  fullyParallel: false,
  workers: 1, // the CI box has 2 cores shared with the api, the workers and Postgres
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['json', { outputFile: jsonReport }]],
  use: {
    browserName: 'chromium',
    launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
    viewport: { width: 1280, height: 860 },
    trace: 'retain-on-failure',
  },
  projects: [
    // The UI against an in-memory CONTRACT STUB of the api: states the real stack rarely shows.
    { name: 'contract-stub', testMatch: /\/e2e\/stub\/[^/]+\.spec\.ts$/ },
    // The whole appliance: real api + worker + Postgres + Redis, a fixture feed added through the UI.
    { name: 'real-api', testMatch: /\/e2e\/real\/[^/]+\.spec\.ts$/, timeout: 240_000 },
  ],
});
