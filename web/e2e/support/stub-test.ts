import { test as base } from '@playwright/test';
import { type AppServer, startAppServer } from './app-server';
import { createStubApi, type StubApi } from './stub-api';

/**
 * The contract-stub specs' `test`: a fresh in-memory stub api per test (episodes advance one state
 * every `stepMs`) behind the viewer's app server, which is the test's baseURL.
 */
export function stubTest(stepMs: number) {
  return base.extend<{ stub: StubApi; app: AppServer }>({
    stub: async ({}, use) => {
      const stub = createStubApi({ stepMs });
      await use(stub);
      stub.close();
    },
    app: async ({ stub }, use) => {
      const app = await startAppServer({ api: stub.handle });
      await use(app);
      await app.close();
    },
    baseURL: async ({ app }, use) => use(app.origin),
  });
}
