// The console against bespin-api in development without API_TOKEN (as
// `make dev` runs it): nothing to sign in to. This server's database and
// process can be taken away (control in e2e_test.go), so the banners for
// a database that is down (503) and a lost live connection are seen
// against the real server here.
import { expect, test } from "@playwright/test";
import { control, createJob, screenshot } from "./helpers";

test.describe.configure({ mode: "serial" });

test("open development: no sign-in, and the sign-in page says why", async ({ page }) => {
  await page.goto("/jobs");
  await expect(page.getByRole("heading", { name: "Jobs", exact: true })).toBeVisible();
  await expect(page.getByText("open (dev)")).toBeVisible();
  await expect(page.getByRole("button", { name: "Sign out" })).toHaveCount(0);

  await page.goto("/signin?next=%2Fwebhooks");
  await expect(page.getByText(/there is nothing to sign in to/)).toBeVisible();
  await expect(page.getByLabel("API token")).toHaveCount(0);
  await screenshot(page, "signin-open-development");
  await page.getByRole("link", { name: "Continue" }).click();
  await expect(page.getByRole("heading", { name: "Webhooks", exact: true })).toBeVisible();

  await page.goto("/no/such/page");
  await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
  await screenshot(page, "not-found");
});

test("database down: 'Database unavailable, retrying…' while the console retries, then the data (503)", async ({ page }) => {
  const { job_id: id } = await createJob(page.request, 10, 0);
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await control(page.request, "database/down");
  try {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs" }).click();
    await expect(page.getByText("Database unavailable, retrying…")).toBeVisible();
    await screenshot(page, "database-unavailable");
  } finally {
    await control(page.request, "database/up");
  }
  // The console's next retry (backoff up to 10 s) gets the list.
  await expect(page.locator(`tr[data-job="${id}"]`)).toBeVisible({ timeout: 60_000 });
  await expect(page.getByText("Database unavailable, retrying…")).toHaveCount(0);
});

test("server restart: the lost connection shows, then the console reconnects and is live again", async ({ page }) => {
  test.setTimeout(180_000);
  await page.goto("/jobs");
  await expect(page.getByText("live", { exact: true })).toBeVisible();
  await control(page.request, "server/stop");
  try {
    await expect(page.getByTestId("connection-lost")).toContainText(/Live updates disconnected \(jobs stream\)\. Reconnecting/);
    await expect(page.getByText("reconnecting…")).toBeVisible();
    await screenshot(page, "connection-lost");
  } finally {
    await control(page.request, "server/start");
  }
  // Backoff grows to 15 s between attempts.
  await expect(page.getByTestId("connection-lost")).toHaveCount(0, { timeout: 60_000 });
  await expect(page.getByText("live", { exact: true })).toBeVisible();
  // Live again: a new job's changes reach the list without a reload.
  const { job_id: id } = await createJob(page.request, 10, 500);
  await expect(page.locator(`tr[data-job="${id}"]`).getByText("completed")).toBeVisible();
});
