// Build of the operations console (issue 7). `npm run build:web` writes web/dist, which the engine
// serves at / (src/api/web-console.ts). Hashed file names under assets/ let the server cache them
// forever; index.html is revalidated on each load. Run as `vite build web`: web/ is the root.
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // The CSP allows scripts from 'self' only: no inline polyfill script.
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    // `npx vite web` during development: the engine's API on its default port.
    proxy: { '/api': 'http://127.0.0.1:8080', '/auth': 'http://127.0.0.1:8080', '/fhir': 'http://127.0.0.1:8080' },
  },
});
