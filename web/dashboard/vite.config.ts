/**
 * Builds the dashboard (web/dashboard) into dist/web/dashboard, which the
 * gateway serves: index.html at `/`, hashed files under `/assets/`. Paths are
 * relative to the package root, where `npm run build` runs.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'web/dashboard',
  base: '/',
  // No public/ folder: every file the page loads is imported, hashed and served under /assets/.
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: '../../dist/web/dashboard',
    emptyOutDir: true,
    target: 'es2022',
    // Every browser that runs ES2022 modules supports modulepreload: the polyfill would only add bytes.
    modulePreload: { polyfill: false },
    // No source maps in the served files: the sources are in the repository.
    sourcemap: false,
    reportCompressedSize: false,
    // The icon stays a file (assets/favicon-HASH.svg), never a data: URL: the gateway also serves it at /favicon.ico.
    assetsInlineLimit: (file) => (file.endsWith('favicon.svg') ? false : undefined),
  },
});
