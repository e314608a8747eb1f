import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [vue()],
  server: { proxy: { '/api': process.env.PODBRAIN_API ?? 'http://127.0.0.1:8100' } },
});
