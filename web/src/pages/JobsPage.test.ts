import { describe, expect, it } from "vitest";
import { fireEvent, screen, waitFor } from "@testing-library/vue";
import { fakeApi } from "../test/fakeApi";
import { FakeWebSocket } from "../test/fakeSocket";
import { job, jobCreated, jobPage, openSession } from "../test/fixtures";
import { renderApp } from "../test/render";
import { createJobList } from "../stores/jobList";

const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => from - i);
const shownIds = () => Array.from(document.querySelectorAll("tr[data-job]"), (tr) => Number(tr.getAttribute("data-job")));

describe("jobs list", () => {
  it("pages with the server's cursor: older, newer, newest", async () => {
    const fake = fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs", (url) => {
        const c = url.searchParams.get("cursor");
        if (c === null) return { body: jobPage(ids(100, 50), "c-50") };
        if (c === "c-50") return { body: jobPage(ids(50, 50), null) };
        return { status: 400, body: { error: { code: "invalid_parameter", message: "cursor is not one this API returned" } } };
      });
    await renderApp("/jobs");
    await screen.findByText("#100");
    expect(screen.getByText("Page 1")).toBeTruthy();

    await fireEvent.click(screen.getByRole("button", { name: "Older →" }));
    await screen.findByText("#50");
    expect(shownIds()).toEqual(ids(50, 50));
    expect(screen.getByText("Page 2")).toBeTruthy();
    expect((screen.getByRole("button", { name: "Older →" }) as HTMLButtonElement).disabled).toBe(true);

    await fireEvent.click(screen.getByRole("button", { name: "← Newer" }));
    await screen.findByText("#100");
    expect(fake.callsTo("GET", "/api/jobs").map((u) => u.searchParams.get("cursor"))).toEqual([null, "c-50", null]);
  });

  it("filters by status through the API", async () => {
    const fake = fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs", (url) => ({
        body: url.searchParams.get("state") === "failed" ? { jobs: [job(5, { status: "failed", state: "cancelled", error: "x" })], next_cursor: null } : jobPage([6, 5], null),
      }));
    await renderApp("/jobs");
    await screen.findByText("#6");
    await fireEvent.update(screen.getByLabelText("Status"), "failed");
    await waitFor(() => expect(shownIds()).toEqual([5]));
    expect(fake.callsTo("GET", "/api/jobs").at(-1)!.searchParams.get("state")).toBe("failed");
  });

  it("applies live updates in order: the last one wins, an older one never overwrites a newer", async () => {
    fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs", { body: jobPage([3, 2, 1], null) });
    await renderApp("/jobs");
    await screen.findByText("#3");
    const ws = FakeWebSocket.latest("topic=jobs");
    ws.open();
    ws.message(job(2, { status: "running", state: "running", attempt: 1, updated_at: "2026-11-22T10:00:01Z" }));
    ws.message(job(2, { status: "completed", state: "completed", attempt: 1, updated_at: "2026-11-22T10:00:02Z" }));
    await waitFor(() => expect(document.querySelector('tr[data-job="2"]')!.textContent).toContain("completed"));
    // A late, older message (say, from a REST read racing the stream).
    ws.message(job(2, { status: "running", state: "running", attempt: 1, updated_at: "2026-11-22T10:00:01Z" }));
    // A new job the stream reports goes on top.
    ws.message(job(4, { status: "running", state: "running", attempt: 1, updated_at: "2026-11-22T10:00:03Z" }));
    await waitFor(() => expect(shownIds()).toEqual([4, 3, 2, 1]));
    expect(document.querySelector('tr[data-job="2"]')!.textContent).toContain("completed");
  });

  it("shows a job the user just created at once (creation is not streamed)", async () => {
    const fake = fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs", { body: jobPage([3], null) })
      .on("POST", "/api/jobs/random-text", { status: 202, body: jobCreated(77) })
      .on("GET", "/api/jobs/77", { body: job(77, { updated_at: "2026-11-22T10:00:05Z" }) });
    await renderApp("/jobs");
    await screen.findByText("#3");
    await fireEvent.update(screen.getByLabelText("Length"), "100000");
    await fireEvent.click(screen.getByRole("button", { name: "Create job" }));
    expect(await screen.findByRole("link", { name: "job #77" })).toBeTruthy();
    await waitFor(() => expect(shownIds()).toEqual([77, 3]));
    // Read with its watch token, which production needs without a session.
    expect(fake.callsTo("GET", "/api/jobs/77")[0]!.searchParams.get("watch_token")).toBe("wt-77");
  });

  it("stays bounded under a flood: 20,000 updates leave at most a page plus the live cap, and count the rest", async () => {
    fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs", { body: jobPage(ids(1000, 50), "c") });
    await renderApp("/jobs");
    await screen.findByText("#1000");
    const ws = FakeWebSocket.latest("topic=jobs");
    ws.open();
    for (let i = 0; i < 20_000; i++) {
      const fresh = i % 2 === 0;
      const id = fresh ? 1001 + i / 2 : 1000 - (((i - 1) / 2) % 50);
      ws.message(job(id, { status: "running", state: "running", attempt: 1, updated_at: new Date(Date.parse("2026-11-22T11:00:00Z") + i).toISOString() }));
    }
    const notice = await screen.findByText(/newer jobs not shown/);
    expect(notice.textContent).toContain("9,950 newer jobs not shown");
    expect(document.querySelectorAll("tr[data-job]").length).toBe(100);
    // The listed jobs were updated in place.
    expect(document.querySelector('tr[data-job="1000"]')!.textContent).toContain("running");
    await fireEvent.click(screen.getByRole("button", { name: "Show newest" }));
    await waitFor(() => expect(screen.queryByText(/not shown/)).toBeNull());
  });
});

describe("job list store", () => {
  it("removes a job that no longer matches the status filter, adds one that starts matching", async () => {
    fakeApi().on("GET", "/api/jobs", { body: { jobs: [job(5, { status: "running", state: "running" })], next_cursor: null } });
    const list = createJobList({ batchMs: 1 });
    list.filters.state = "running";
    await list.load();
    list.apply([
      job(5, { status: "completed", state: "completed", updated_at: "2026-11-22T10:00:09Z" }),
      job(6, { status: "running", state: "running", updated_at: "2026-11-22T10:00:09Z" }),
    ]);
    expect(list.rows.value.map((j) => j.job_id)).toEqual(["6"]);
  });
});
