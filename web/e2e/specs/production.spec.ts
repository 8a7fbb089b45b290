// The console against a production-like bespin-api: BESPIN_ENV=production
// with API_TOKEN, so every page needs a session, jobs are private (watch
// tokens) and River UI is behind the same sign-in. Serial: the first test
// signs in through the page and keeps the session for the "signed in"
// ones; the sign-in rate limit test comes last, since it uses up this
// address's sign-in budget.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { createJob, desktop, env, outputDir, phone, postWebhook, screenshot, screenshots, signIn, signInFor } from "./helpers";

test.describe.configure({ mode: "serial" });

const token = () => env("BESPIN_E2E_TOKEN");
const sessionFile = `${outputDir}/playwright/session.json`;
test.afterAll(() => rmSync(sessionFile, { force: true }));

test("sign in with the API token; a wrong one is refused", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(signInFor("/"));
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await screenshots(page, "signin");
  await page.getByLabel("API token").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("That token is not one of this server's API tokens.");

  await signIn(page, token());
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await expect(page.getByTestId("session")).toContainText("signed in until");
  // The session is an HttpOnly, SameSite=Strict cookie; the page keeps no token.
  const cookie = (await page.context().cookies()).find((c) => c.name === "bespin_session");
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict" });
  const kept = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }) + document.cookie);
  expect(kept).not.toContain(token());
  await page.context().storageState({ path: sessionFile });
});

test.describe("signed in", () => {
  test.use({ storageState: sessionFile });

  test("overview: readiness, live feed", async ({ page }) => {
    await page.goto("/");
    await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
    await expect(page.locator("dd", { hasText: "ok" }).first()).toBeVisible();
    await expect(page.getByRole("link", { name: "Open River UI" })).toHaveAttribute("href", "/riverui/");
    await expect(page.getByText("live", { exact: true })).toBeVisible();
    // A job's status changes reach the feed without a reload.
    const { job_id: id } = await createJob(page.request, 50, 300);
    await expect(page.getByTestId("feed").getByText(`Job ${id} (random-text) completed`)).toBeVisible();
    await screenshots(page, "overview");
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
    await screenshots(page, "jobs");

    await created.click();
    await expect(page.getByTestId("job-status")).toContainText("completed");
    await expect(page.getByText("2,000 characters")).toBeVisible();
    expect(((await page.getByTestId("job-text").textContent()) ?? "").length).toBe(2000);
    await screenshots(page, "job");
  });

  test("job page: two tabs watching one job see the same statuses and text", async ({ context }) => {
    const { job_id: id } = await createJob(context.request, 500, 3000);
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
    await screenshot(b, "job-second-tab");
  });

  test("webhooks: a signed delivery appears without reload; the panel's curl works; its receipt page", async ({ page }) => {
    await page.goto("/webhooks");
    await expect(page.getByText("live", { exact: true })).toBeVisible();
    const event = `e2e.${Date.now()}`;
    const receipt = await postWebhook(page.request, event, { order: 42 });
    await expect(page.getByTestId("receipts-table").getByText(event)).toBeVisible();
    await page.getByText("How to send one").click();
    await screenshots(page, "webhooks");
    // The panel's curl command works as printed, and its receipt shows up live.
    await page.getByLabel("Body").fill('{"event":"from.curl","note":"it\'s signed"}');
    const curl = (await page.getByTestId("curl").textContent()) ?? "";
    const answer = JSON.parse(execFileSync("bash", ["-c", curl], { encoding: "utf8" })) as { verified: boolean; event: string };
    expect(answer).toMatchObject({ verified: true, event: "from.curl" });
    await expect(page.getByTestId("receipts-table").getByText("from.curl")).toBeVisible();

    await page.getByTestId("receipts-table").locator("tr", { hasText: event }).getByRole("link").click();
    await expect(page).toHaveURL(new RegExp(`/webhooks/${receipt.id}$`));
    await expect(page.getByTestId("payload")).toContainText('"order": 42');
    await expect(page.getByText("X-Webhook-Signature")).toBeVisible();
    await expect(page.getByTestId("processing")).toContainText("processed");
    await screenshots(page, "receipt");
  });

  test("receipt: replay runs a new process-webhook job and the receipt is processed again", async ({ page }) => {
    const receipt = await postWebhook(page.request, "order.replayed", { order: 7 });
    await page.goto(`/webhooks/${receipt.id}`);
    const processedAt = page.getByTestId("processing").locator("time");
    await expect(processedAt).toBeVisible(); // processed once (the page looks again until it is)
    const first = await processedAt.getAttribute("datetime");
    await page.getByRole("button", { name: "Replay" }).click();
    const job = page.getByRole("status").filter({ hasText: "Replayed" }).getByRole("link", { name: /job #\d+/ });
    await expect(job).toBeVisible();
    // processed_at is set again by the new job: a later time.
    await expect(page.getByTestId("processing").locator(`time:not([datetime="${first}"])`)).toBeVisible();
    await screenshot(page, "receipt-replayed");
    await job.click();
    await expect(page.getByRole("heading", { name: /^Job #\d+/ })).toBeVisible();
    await expect(page.locator("dd", { hasText: "process-webhook" })).toBeVisible();
    await expect(page.getByTestId("job-status")).toContainText("completed");
  });

  test("job control: cancel a running job (failed, cancelled), retry it to completed, delete it", async ({ page }) => {
    test.setTimeout(180_000);
    // 20 s of simulated work: time enough to cancel it while it runs.
    const { job_id: id } = await createJob(page.request, 300, 20_000);
    await page.goto(`/jobs/${id}`);
    const status = page.getByTestId("job-status");
    await expect(status).toContainText("running");
    await page.getByRole("button", { name: "Cancel" }).click();
    await expect(page.getByText(`Job ${id} is running: it has been asked to stop`)).toBeVisible();
    // Its worker stops; the page hears it live.
    await expect(status).toContainText("failed (cancelled)");
    await expect(page.getByTestId("timeline")).toContainText("failed (cancelled)");
    await screenshot(page, "job-cancelled");

    await page.getByRole("button", { name: "Retry" }).click();
    await expect(page.getByText(`Job ${id} will run again.`)).toBeVisible();
    await expect(status).toContainText("completed", { timeout: 60_000 });
    await expect(page.getByText("300 characters")).toBeVisible();
    await expect(page.getByTestId("timeline")).toContainText("attempt 2");

    await page.getByRole("link", { name: "← Jobs" }).click();
    await expect(page.locator(`tr[data-job="${id}"]`)).toBeVisible();
    await page.locator(`tr[data-job="${id}"]`).getByRole("link", { name: `#${id}` }).click();
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("button", { name: "Really delete?" }).click();
    await expect(page.getByText(`Job ${id} was deleted.`)).toBeVisible();
    await page.getByRole("link", { name: "← Jobs" }).click();
    await expect(page.locator("tr[data-job]").first()).toBeVisible();
    await expect(page.locator(`tr[data-job="${id}"]`)).toHaveCount(0);
    await page.goto(`/jobs/${id}`);
    await expect(page.getByText(`There is no job #${id}`)).toBeVisible();
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
    await screenshots(page, "stats");
  });

  test("River UI opens from the overview's link in the same session and lists the job", async ({ page }) => {
    await page.goto("/");
    await expect(page.getByText("live", { exact: true })).toBeVisible();
    const { job_id: id } = await createJob(page.request, 4242, 0);
    await expect(page.getByTestId("feed").getByText(`Job ${id} (random-text) completed`)).toBeVisible();
    await page.getByRole("link", { name: "Open River UI" }).click();
    await expect(page).toHaveURL(/\/riverui\/jobs/); // no second sign-in
    await page.getByRole("link", { name: /^Completed/ }).click();
    const row = page.locator(`a[href="/riverui/jobs/${id}"]`);
    await expect(row).toContainText("random-text");
    await expect(page.getByText('{"length":4242}')).toBeVisible();
    await screenshot(page, "riverui");
  });
});

test("a job's watch token shows it live without signing in; without it, sign-in", async ({ page }) => {
  const job = await createJob(page.request, 120, 1500);
  // Job reads are private in production: the API says so…
  expect((await page.request.get(`/api/jobs/${job.job_id}`)).status()).toBe(401);
  // …and the job's own watch token opens it.
  await page.goto(`/jobs/${job.job_id}?watch_token=${encodeURIComponent(job.watch_token)}`);
  await expect(page.getByTestId("job-status")).toContainText("completed");
  await expect(page.getByText("120 characters")).toBeVisible();
  await expect(page.getByRole("button", { name: "Sign out" })).toHaveCount(0);
  await page.goto(`/jobs/${job.job_id}`);
  await expect(page).toHaveURL(signInFor(`/jobs/${job.job_id}`));
});

test("signed out or a session gone: sign-in, then back where the user was (401)", async ({ page }) => {
  await page.goto("/jobs");
  await expect(page).toHaveURL(signInFor("/jobs"));
  await signIn(page, token());
  await expect(page.getByRole("heading", { name: "Jobs", exact: true })).toBeVisible();
  await expect(page.locator("tr[data-job]").first()).toBeVisible();

  // The session ends behind the page's back (the cookie is gone): the next
  // request is a 401 and the page says so on the sign-in page.
  await page.context().clearCookies();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" }).click();
  await expect(page).toHaveURL(signInFor("/webhooks", true));
  await expect(page.getByText("Your session has ended. Sign in again to go on where you were.")).toBeVisible();
  await screenshot(page, "signin-session-ended");
  await signIn(page, token());
  await expect(page.getByRole("heading", { name: "Webhooks", exact: true })).toBeVisible();
  await expect(page).toHaveURL(/\/webhooks$/);

  // Signing out ends the session on the server too.
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  expect((await page.request.get("/api/session")).status()).toBe(401);
  await page.goto("/stats");
  await expect(page).toHaveURL(signInFor("/stats"));
});

test("River UI without a session: the server sends the browser to sign in, which brings it back", async ({ page }) => {
  await page.goto("/riverui/");
  await expect(page).toHaveURL(signInFor("/riverui/"));
  await signIn(page, token());
  // A full page load of River UI, not the console's "not found".
  await expect(page).toHaveURL(/\/riverui\/jobs/);
  await expect(page.getByRole("link", { name: /^Completed/ })).toBeVisible();
});

test("too many sign-in attempts: the page says when to try again (429, Retry-After)", async ({ page }) => {
  await page.goto("/signin");
  const alert = page.getByRole("alert");
  // The default budget is a burst of 5, then 10 a minute per address.
  for (let i = 0; i < 15; i++) {
    await page.getByLabel("API token").fill(`wrong-${i}`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(alert).toBeVisible();
    await expect(page.getByRole("button", { name: "Sign in" })).toBeEnabled();
    if (/Too many requests/.test((await alert.textContent()) ?? "")) break;
  }
  await expect(alert).toContainText(/Too many requests\. Try again in \d+ seconds?\./);
  await page.setViewportSize(phone);
  await screenshot(page, "signin-rate-limited-phone");
  await page.setViewportSize(desktop);
});
