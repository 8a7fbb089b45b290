import { createHmac, randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { expect, type APIRequestContext, type Page } from "@playwright/test";

/** A variable the Go harness (e2e_test.go) sets. */
export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the browser tests through \`make web-browser\``);
  return v;
}

const out = process.env.E2E_OUTPUT ?? "test-results";
mkdirSync(`${out}/screenshots`, { recursive: true });
export const outputDir = out;

export const desktop = { width: 1280, height: 800 };
export const phone = { width: 390, height: 844 };

export async function screenshot(page: Page, name: string): Promise<void> {
  const path = `${out}/screenshots/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

/** Screenshots at 1280 px (name) and at a phone's width (name-phone). */
export async function screenshots(page: Page, name: string): Promise<void> {
  await screenshot(page, name);
  await page.setViewportSize(phone);
  await screenshot(page, `${name}-phone`);
  await page.setViewportSize(desktop);
}

/** Posts a delivery to the test source (secret test-secret on both
 * servers), signed like the server checks it. Each body is new (a nonce):
 * the server takes a body it stored within WEBHOOK_DEDUPE_WINDOW for a
 * duplicate. request's base URL is the server's. */
export async function postWebhook(request: APIRequestContext, event: string, extra: Record<string, unknown> = {}) {
  const body = JSON.stringify({ event, nonce: randomUUID(), ...extra });
  const sig = createHmac("sha256", "test-secret").update(body).digest("hex");
  const res = await request.post("/api/webhooks/test", {
    headers: { "Content-Type": "application/json", "X-Webhook-Signature": `sha256=${sig}` },
    data: body,
  });
  if (res.status() !== 201) throw new Error(`webhook: ${res.status()} ${await res.text()}`);
  return (await res.json()) as { id: string; event: string };
}

/** Creates a random-text job (public, like the seed's clients do). */
export async function createJob(request: APIRequestContext, length: number, delayMs: number) {
  const res = await request.post(`/api/jobs/random-text?length=${length}&delay_ms=${delayMs}`);
  if (res.status() !== 202) throw new Error(`create job: ${res.status()} ${await res.text()}`);
  return (await res.json()) as { job_id: string; watch_token: string };
}

/** A URL check: the sign-in page, to come back to next (ended: sent there
 * by a 401 while signed in). */
export function signInFor(next: string, ended = false): (u: URL) => boolean {
  return (u) => u.pathname === "/signin" && u.searchParams.get("next") === next && (u.searchParams.get("ended") === "1") === ended;
}

/** Signs in on the sign-in page the browser is on. */
export async function signIn(page: Page, token: string): Promise<void> {
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Asks the harness to act on the development server (control in
 * e2e_test.go): "database/down", "database/up", "server/stop",
 * "server/start". */
export async function control(request: APIRequestContext, action: string): Promise<void> {
  const res = await request.post(`${env("BESPIN_E2E_CONTROL_URL")}/${action}`, { timeout: 90_000 });
  if (res.status() !== 204) throw new Error(`control ${action}: ${res.status()} ${await res.text()}`);
}
