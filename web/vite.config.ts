import { fileURLToPath } from 'node:url';
import type { Connect, Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

const page = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

// The peyk server listens here by default (PROTOCOL.md §1); `npm run dev` proxies to it.
const server = process.env.PEYK_SERVER ?? 'http://127.0.0.1:8082';

// `/track` is the customer page, as the peyk server routes it; do the same in
// `npm run dev` and `npm run preview`.
const trackRoute: Connect.NextHandleFunction = (req, _res, next) => {
  if (req.url && /^\/track(?:[/?#]|$)/.test(req.url)) req.url = req.url.replace(/^\/track\/?/, '/track.html');
  next();
};
const routes: Plugin = {
  name: 'peyk-routes',
  configureServer: (s) => void s.middlewares.use(trackRoute),
  configurePreviewServer: (s) => void s.middlewares.use(trackRoute),
};

export default defineConfig({
  plugins: [routes],
  // Absolute asset URLs: the server serves index.html at `/` and track.html at `/track`;
  // relative './assets/...' URLs would break if the page were opened as `/track/`.
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Emit marker images and CSS images as files (no data: URLs), so a strict
    // Content-Security-Policy img-src 'self' works.
    assetsInlineLimit: 0,
    sourcemap: true,
    rollupOptions: {
      input: { index: page('index.html'), track: page('track.html') },
      output: {
        // Chunks shared by both pages, named for what they hold.
        manualChunks: (id: string) => {
          if (id.includes('/node_modules/leaflet/')) return 'leaflet';
          if (id.includes('/src/shared/') || id.includes('/src/ui/')) return 'common';
          return undefined;
        },
      },
    },
  },
  server: {
    proxy: {
      '/ws': { target: server.replace(/^http/, 'ws'), ws: true },
      '/api': server,
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
