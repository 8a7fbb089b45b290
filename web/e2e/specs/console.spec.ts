import { execFileSync } from "node:child_process";
import { expect, test } from "@playwright/test";
import { createJob, postWebhook, screenshot } from "./helpers";

test.describe.configure({ mode: "serial" });

test("overview: readiness, live feed and River UI link", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await expect(page.locator("dd", { hasText: "ok" }).first()).toBeVisible();
  await expect(page.getByRole("link", { name: "Open River UI" })).toHaveAttribute("href", "/riverui/");
  await expect(page.getByText("live", { exact: true })).toBeVisible();
  // A job's status changes reach the feed without a reload.
  const id = await createJob(page.request, 50, 300);
  await expect(page.getByTestId("feed").getByText(`Job ${id} (random-text) completed`)).toBeVisible();
  await screenshot(page, "overview");
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, "overview-phone");
});

test("jobs: create a job and see it complete live with its text", async ({ page }) => {
  await page.goto("/jobs");
  await page.getByLabel("Length").fill("2000");
  await page.getByLabel("Delay (ms)").fill("1500");
  await page.getByRole("button", { name: "Create job" }).click();
  const created = page.getByRole("status").getByRole("link", { name: /job #\d+/ });
  await expect(created).toBeVisible();
  const id = ((await created.textContent()) ?? "").replace(/\D/g, "");
  // The new job is in the list at once (creation is not streamed) and
  // reaches completed there without a reload.
  const row = page.locator(`tr[data-job="${id}"]`);
  await expect(row).toBeVisible();
  await expect(row.getByText("completed")).toBeVisible();
  await screenshot(page, "jobs");

  await page.goto(`/jobs/${id}`);
  await expect(page.getByTestId("job-status")).toContainText("completed");
  await expect(page.getByText("2,000 characters")).toBeVisible();
  expect(((await page.getByTestId("job-text").textContent()) ?? "").length).toBe(2000);
  await screenshot(page, "job");
});

test("job page: two tabs watching one job see the same statuses and text", async ({ context }) => {
  const id = await createJob(context.request, 500, 3000);
  const a = await context.newPage();
  const b = await context.newPage();
  await Promise.all([a.goto(`/jobs/${id}`), b.goto(`/jobs/${id}`)]);
  for (const p of [a, b]) {
    await expect(p.getByTestId("job-status")).toContainText(/pending|running/);
  }
  for (const p of [a, b]) {
    await expect(p.getByTestId("job-status")).toContainText("completed");
    await expect(p.getByTestId("timeline")).toContainText("running");
  }
  const [ta, tb] = await Promise.all([a.getByTestId("job-text").textContent(), b.getByTestId("job-text").textContent()]);
  expect(ta?.length).toBe(500);
  expect(ta).toBe(tb);
  await screenshot(a, "job-second-tab");
});

test("webhooks: a signed delivery appears without reload; its receipt page", async ({ page }) => {
  await page.goto("/webhooks");
  await expect(page.getByText("live", { exact: true })).toBeVisible();
  const event = `e2e.${Date.now()}`;
  const receipt = await postWebhook(page.request, event, { order: 42 });
  const cell = page.getByTestId("receipts-table").getByText(event);
  await expect(cell).toBeVisible();
  await page.getByText("How to send one").click();
  await screenshot(page, "webhooks");
  // The panel's curl command works as printed, and its receipt shows up live.
  await page.getByLabel("Body").fill('{"event":"from.curl","note":"it\'s signed"}');
  const curl = (await page.getByTestId("curl").textContent()) ?? "";
  const answer = JSON.parse(execFileSync("bash", ["-c", curl], { encoding: "utf8" })) as { verified: boolean; event: string };
  expect(answer).toMatchObject({ verified: true, event: "from.curl" });
  await expect(page.getByTestId("receipts-table").getByText("from.curl")).toBeVisible();

  await page.goto(`/webhooks/${receipt.id}`);
  await expect(page.getByTestId("payload")).toContainText('"order": 42');
  await expect(page.getByText("X-Webhook-Signature")).toBeVisible();
  await expect(page.getByTestId("processing")).toContainText("processed");
  await screenshot(page, "receipt");
});

test("stats: receipts chart renders with data", async ({ page }) => {
  for (let i = 0; i < 5; i++) await postWebhook(page.request, i % 2 === 0 ? "ping" : "order.created");
  await page.goto("/stats");
  await expect(page.getByTestId("stats-totals")).toContainText("test");
  // uPlot draws on canvas; a drawn chart has a non-blank canvas.
  const canvas = page.locator(".chart canvas").first();
  await expect(canvas).toBeVisible();
  const inked = await canvas.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
    return n;
  });
  expect(inked).toBeGreaterThan(500);
  await screenshot(page, "stats");
});
