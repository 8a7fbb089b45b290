import { defineConfig } from "@playwright/test";

// Browser tests. They expect running servers: the Go harness in
// e2e/e2e_test.go starts them and passes their addresses
// (make web-browser). Browser downloads do not work here: Debian's
// chromium is used.
//   production   bespin-api with API_TOKEN (sign-in, sessions, River UI)
//   development  bespin-api without API_TOKEN (open), whose database and
//                process the tests can take away (BESPIN_E2E_CONTROL_URL)
//   vite         `npm run dev` proxying the API to the development server
export default defineConfig({
  testDir: "e2e/specs",
  outputDir: `${process.env.E2E_OUTPUT ?? "test-results"}/playwright`,
  timeout: 120_000,
  expect: { timeout: 20_000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [["list"]],
  use: {
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
  projects: [
    { name: "production", testMatch: "production.spec.ts", use: { baseURL: process.env.BESPIN_E2E_PROD_URL } },
    { name: "development", testMatch: ["development.spec.ts", "flood.spec.ts"], use: { baseURL: process.env.BESPIN_E2E_DEV_URL } },
    { name: "vite", testMatch: "vite.spec.ts", use: { baseURL: process.env.BESPIN_E2E_VITE_URL } },
  ],
});
