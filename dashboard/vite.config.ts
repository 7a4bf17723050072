import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The dashboard is a static single-page app that the Keyward server serves at / (see
// src/http/routes/dashboard.ts). `npm run dev:dashboard` serves it with hot reload and forwards
// the API to a Keyward server: KEYWARD_API, default http://127.0.0.1:8080.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No inline polyfill script: the server's Content-Security-Policy allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 700,
  },
  server: { proxy: { '/v1': process.env.KEYWARD_API ?? 'http://127.0.0.1:8080' } },
});
