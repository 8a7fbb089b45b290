import { describe, expect, it } from "vitest";
import { fireEvent, screen, waitFor } from "@testing-library/vue";
import { fakeApi } from "../test/fakeApi";
import { FakeWebSocket } from "../test/fakeSocket";
import { completedJob, job, openSession } from "../test/fixtures";
import { renderApp } from "../test/render";

const timeline = () => Array.from(document.querySelectorAll('[data-testid="timeline"] .badge')).map((b) => b.textContent!.trim());

describe("job page", () => {
  it("watches the job live: pending → running → completed with times, then the text", async () => {
    fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs/42", { body: job(42) });
    await renderApp("/jobs/42");
    await screen.findByTestId("job-status");
    const ws = FakeWebSocket.latest("job_id=42");
    ws.open();
    ws.message(job(42, { status: "running", state: "running", attempt: 1, updated_at: "2026-11-22T10:00:01Z" }));
    ws.message({ ...completedJob, result: { text: "x".repeat(100_000), length: 100_000 } });
    await waitFor(() => expect(timeline()).toEqual(["pending", "running", "completed"]));
    expect(document.querySelectorAll('[data-testid="timeline"] time').length).toBe(3);
    expect(screen.getByText("100,000 characters")).toBeTruthy();
    // A bounded preview; the whole text on request.
    expect(screen.getByTestId("job-text").textContent!.length).toBe(10_000);
    await fireEvent.click(screen.getByRole("button", { name: "Show all 100,000 characters" }));
    expect(screen.getByTestId("job-text").textContent!.length).toBe(100_000);
    // The server closes with 1000 after the final status: no reconnect.
    ws.drop(1000);
    await new Promise((r) => setTimeout(r, 700));
    expect(FakeWebSocket.count("job_id=42")).toBe(1);
  });

  it("shows a failed job's error", async () => {
    fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs/43", { body: job(43, { status: "failed", state: "discarded", attempt: 3, error: "random-text: generator exploded" }) });
    await renderApp("/jobs/43");
    expect((await screen.findByTestId("job-error")).textContent).toBe("random-text: generator exploded");
  });

  it("a lost connection shows, comes back with backoff, and resyncs over REST", async () => {
    let reads = 0;
    fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs/42", () => {
        reads++;
        // While the connection was down, the job completed.
        return { body: reads === 1 ? job(42, { status: "running", state: "running", attempt: 1 }) : completedJob };
      });
    await renderApp("/jobs/42");
    await screen.findByTestId("job-status");
    const first = FakeWebSocket.latest("job_id=42");
    first.open();
    first.drop(1006);
    expect((await screen.findByTestId("connection-lost")).textContent).toMatch(/Live updates disconnected \(job 42\)\. Reconnecting in \d s/);
    // Backoff: nothing at once; a new connection within the first delay (≤ 500 ms).
    expect(FakeWebSocket.count("job_id=42")).toBe(1);
    await waitFor(() => expect(FakeWebSocket.count("job_id=42")).toBe(2), { timeout: 1500 });
    FakeWebSocket.latest("job_id=42").open();
    await waitFor(() => expect(screen.getByTestId("job-status").textContent).toContain("completed"));
    expect(reads).toBe(2);
    expect(timeline()).toEqual(["running", "completed"]);
    await waitFor(() => expect(screen.queryByTestId("connection-lost")).toBeNull());
  });

  it("cancel says what happened, also when nothing changed", async () => {
    fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs/42", { body: completedJob })
      .on("POST", "/api/jobs/42/cancel", { body: { job: completedJob, changed: false, message: "Job 42 is already completed; nothing to cancel." } });
    await renderApp("/jobs/42");
    await fireEvent.click(await screen.findByRole("button", { name: "Cancel" }));
    expect(await screen.findByText("Job 42 is already completed; nothing to cancel.")).toBeTruthy();
  });

  it("delete asks once more, then deletes; a running job's 409 is explained", async () => {
    const fake = fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs/42", { body: job(42, { status: "running", state: "running" }) })
      .on("DELETE", "/api/jobs/42", { status: 409, body: { error: { code: "job_running", message: "Job 42 is running; cancel it first." } } });
    await renderApp("/jobs/42");
    await fireEvent.click(await screen.findByRole("button", { name: "Delete" }));
    expect(fake.callsTo("DELETE", "/api/jobs/42")).toHaveLength(0);
    await fireEvent.click(screen.getByRole("button", { name: "Really delete?" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Job 42 is running; cancel it first.");
  });

  it("signed out, the job's watch token still shows it live (production's job privacy); without it, sign-in", async () => {
    const unauthorized = { status: 401, body: { error: { code: "unauthorized", message: "needs a token" } } };
    const fake = fakeApi()
      .on("GET", "/api/session", unauthorized)
      .on("GET", "/api/jobs/42", (url) => (url.searchParams.get("watch_token") === "wt-42" ? { body: job(42) } : unauthorized));
    const { router } = await renderApp("/jobs/42?watch_token=wt-42");
    await screen.findByTestId("job-status");
    expect(router.currentRoute.value.name).toBe("job");
    const ws = FakeWebSocket.latest("job_id=42");
    expect(new URL(ws.url).searchParams.get("watch_token")).toBe("wt-42");
    ws.open();
    ws.message(completedJob);
    await waitFor(() => expect(screen.getByTestId("job-status").textContent).toContain("completed"));
    expect(fake.callsTo("GET", "/api/jobs/42")).toHaveLength(1);

    await router.push("/jobs/43");
    expect(router.currentRoute.value.name).toBe("signin");
    expect(router.currentRoute.value.query.next).toBe("/jobs/43");
  });
});
