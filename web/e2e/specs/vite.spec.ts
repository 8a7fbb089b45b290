// The seed's development flow: `npm run dev` (vite) serves the console
// from source with live reload and proxies the API, its WebSockets and
// River UI to bespin-api (here the development server).
import { expect, test } from "@playwright/test";
import { createJob, screenshot } from "./helpers";

test("npm run dev: the console from source, the API, live updates and River UI through vite's proxy", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await expect(page.locator("dd", { hasText: "ok" }).first()).toBeVisible();
  await expect(page.getByText("live", { exact: true })).toBeVisible();
  const { job_id: id } = await createJob(page.request, 64, 500); // through vite's proxy too
  await expect(page.getByTestId("feed").getByText(`Job ${id} (random-text) completed`)).toBeVisible();
  await screenshot(page, "vite-dev-overview");
  await page.getByRole("link", { name: "Open River UI" }).click();
  await expect(page).toHaveURL(/\/riverui\/jobs/);
  await page.getByRole("link", { name: /^Completed/ }).click();
  await expect(page.locator(`a[href="/riverui/jobs/${id}"]`)).toContainText("random-text");
});
