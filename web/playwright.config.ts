import { defineConfig } from "@playwright/test";

// Browser tests. They expect a running console + API (BESPIN_E2E_URL): the
// Go harness in e2e/e2e_test.go starts both (make web-browser). Browser
// downloads do not work here: Debian's chromium is used.
export default defineConfig({
  testDir: "e2e/specs",
  outputDir: `${process.env.E2E_OUTPUT ?? "test-results"}/playwright`,
  timeout: 90_000,
  expect: { timeout: 20_000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: process.env.BESPIN_E2E_URL,
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    trace: "off",
  },
});
