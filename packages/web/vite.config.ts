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
    chunkSizeWarningLimit: 900,
  },
  server: {
    proxy: {
      '/api': { target: process.env['SOTTO_API'] ?? 'http://localhost:3000', changeOrigin: false },
    },
  },
});
