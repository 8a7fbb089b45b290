import { writeFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { createJob, env, outputDir, screenshot } from "./helpers";

// The jobs list with 1,000 job updates per second arriving on its stream.
// The real server cannot make that many changes on this machine, so the
// harness (e2e_test.go, floodJobs) plays a jobs stream over a real
// WebSocket from its own port, and an init script points this page's
// jobs-stream WebSocket (only that one) at it. The page, its REST data and
// the browser's network stack are real. Main-thread blocking is measured
// with the Long Tasks API, input delay with the Event Timing API.
const RATE = 1000; // messages per second
const SECONDS = 5;

type Probe = { long: number[]; inputDelay: number[] };

test("jobs list stays responsive under 1,000 updates per second", async ({ page }) => {
  for (let i = 0; i < 20; i++) await createJob(page.request, 10, 0);
  await page.addInitScript((flood: string) => {
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(new URL(String(url)).searchParams.get("topic") === "jobs" ? flood : url, protocols);
      }
    };
  }, `${env("BESPIN_E2E_FLOOD_URL")}?rate=${RATE}&seconds=${SECONDS}`);
  await page.addInitScript(() => {
    const w = window as unknown as { __probe: Probe };
    w.__probe = { long: [], inputDelay: [] };
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__probe.long.push(e.duration);
    }).observe({ type: "longtask", buffered: true });
    new PerformanceObserver((list) => {
      for (const e of list.getEntries() as PerformanceEventTiming[]) w.__probe.inputDelay.push(e.processingStart - e.startTime);
    }).observe({ type: "event", durationThreshold: 16, buffered: true } as PerformanceObserverInit);
  });

  await page.goto("/jobs");
  await expect(page.locator("tr[data-job]").first()).toBeVisible();
  await page.evaluate(() => ((window as unknown as { __probe: Probe }).__probe.long = []));
  const t0 = Date.now();
  // The flood starts a second after the stream opens and lasts SECONDS;
  // meanwhile a person clicks around.
  const clicks: number[] = [];
  while (Date.now() - t0 < (SECONDS + 1.5) * 1000) {
    const before = Date.now();
    await page.getByLabel("Kind").click();
    clicks.push(Date.now() - before);
    await page.getByLabel("Length").click();
    await page.waitForTimeout(200);
  }
  const elapsed = (Date.now() - t0) / 1000;
  const probe = await page.evaluate(() => (window as unknown as { __probe: Probe }).__probe);
  const rows = await page.locator("tr[data-job]").count();
  const unseen = (await page.getByRole("status").filter({ hasText: "not shown" }).textContent()) ?? "";

  const blocked = probe.long.reduce((a, d) => a + Math.max(0, d - 50), 0);
  const sorted = [...clicks].sort((a, b) => a - b);
  const result = {
    rate: RATE,
    floodSeconds: SECONDS,
    measuredSeconds: Number(elapsed.toFixed(1)),
    longTasks: probe.long.length,
    longTaskMs: Math.round(probe.long.reduce((a, d) => a + d, 0)),
    maxLongTaskMs: Math.round(Math.max(0, ...probe.long)),
    totalBlockingMs: Math.round(blocked),
    clickRoundTripP50Ms: sorted[Math.floor(sorted.length / 2)] ?? null,
    clickRoundTripMaxMs: sorted[sorted.length - 1] ?? null,
    maxInputDelayMs: Math.round(Math.max(0, ...probe.inputDelay)),
    rowsShown: rows,
    unseenNotice: unseen.trim(),
  };
  console.log(`flood: ${JSON.stringify(result)}`);
  writeFileSync(`${outputDir}/flood.json`, JSON.stringify(result, null, 2));
  await screenshot(page, "jobs-flood");

  expect(rows).toBeLessThanOrEqual(100); // the page (50) + the live insert cap (50)
  expect(unseen).toMatch(/newer jobs? not shown/);
  // Blocked under 10% of the measured time.
  expect(blocked).toBeLessThan(elapsed * 100);
});
