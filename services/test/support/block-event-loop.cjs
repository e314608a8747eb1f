// Test fixture, preloaded with --require (never part of a role): once the file named by
// BLOCK_EVENT_LOOP_FILE exists, blocks the main thread's event loop for good, as an endless
// synchronous loop would.
/* eslint-disable @typescript-eslint/no-require-imports -- a plain CommonJS preload */
// Under NODE_OPTIONS a preload also runs in every worker thread: only the main thread blocks.
const { existsSync } = require('node:fs');
const { isMainThread } = require('node:worker_threads');

const file = process.env.BLOCK_EVENT_LOOP_FILE;
if (file && isMainThread) {
  const poll = setInterval(() => {
    if (!existsSync(file)) return;
    clearInterval(poll);
    for (;;) {
      /* busy */
    }
  }, 50);
  poll.unref();
}
