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
(window.requestIdleCallback ?? ((cb: () => void) => setTimeout(cb, 1)))(() => warmUpDateFormats());
