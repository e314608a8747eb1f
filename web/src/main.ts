import { createApp } from 'vue';
import App from './App.vue';
import { registerServiceWorker } from './pwa';
import { router } from './router';
import { reloadOnStaleChunks } from './stale-build';
import './style.css';
import { warmUpDateFormats } from './format';

reloadOnStaleChunks(router);
createApp(App).use(router).mount('#app');
registerServiceWorker();
// A task of its own right after the router has sent the first page's reads: it runs while they are in flight.
setTimeout(warmUpDateFormats, 0);
