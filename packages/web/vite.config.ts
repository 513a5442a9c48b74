import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `vite build` → dist/, served by the app server (index.html fallback for client routes).
// `vite` (dev) proxies /api to an app server on SOTTO_API (default http://localhost:3000).
export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // one ~1 MB chunk (≈275 kB gzip): livekit-client, ts-mls and the app; splitting needs the
    // client SDK's barrel split first (known limit in the README)
    chunkSizeWarningLimit: 1100,
  },
  server: {
    proxy: {
      '/api': { target: process.env['SOTTO_API'] ?? 'http://localhost:3000', changeOrigin: false },
    },
  },
});
