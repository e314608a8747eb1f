import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';
import { serviceWorker } from './sw/plugin';

export default defineConfig({
  plugins: [vue(), serviceWorker()],
  // The manifest lets bench/viewer count what the first page load really fetches.
  build: { manifest: true },
  server: { proxy: { '/api': process.env.PODBRAIN_API ?? 'http://127.0.0.1:8100' } },
});
