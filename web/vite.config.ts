import { defineConfig } from "vitest/config";
import vue from "@vitejs/plugin-vue";

// The API server `make dev` runs (bespin-api serve on :3002). The seed's
// flow: `npm run dev` serves the console on :8000 and proxies the rest.
const api = process.env.BESPIN_API_URL ?? "http://localhost:3002";
const proxy = {
  "/api": { target: api, ws: true },
  "/riverui": { target: api },
  "/readyz": { target: api },
  "/healthz": { target: api },
  "/metrics": { target: api },
};

export default defineConfig({
  plugins: [vue()],
  build: {
    // dist/ holds the committed placeholder.html; only dist/console is
    // build output (and git-ignored), so emptying it deletes nothing kept.
    outDir: "dist/console",
    emptyOutDir: true,
    manifest: true,
    target: "es2022",
    chunkSizeWarningLimit: 200,
  },
  server: { port: 8000, strictPort: true, proxy },
  preview: { port: 8000, strictPort: true, proxy },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
  },
});
