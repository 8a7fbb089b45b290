import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/vue";
import { createMemoryHistory, createRouter } from "vue-router";
import JobTable from "./JobTable.vue";
import StatusBadge from "./StatusBadge.vue";
import { completedJob, failedJob, job } from "../test/fixtures";

const router = createRouter({ history: createMemoryHistory(), routes: [{ path: "/:p(.*)*", component: { template: "<div/>" } }] });

describe("job statuses", () => {
  it("shows each job's status, and River's state where it says more", () => {
    render(JobTable, {
      props: { jobs: [completedJob, failedJob, job(7, { status: "running", state: "running" }), job(8, { state: "retryable", attempt: 2 })] },
      global: { plugins: [router] },
    });
    const rows = screen.getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getAllByRole("cell")[2]!.textContent!.trim())).toEqual([
      "completed",
      "failed (discarded)",
      "running",
      "pending (retryable)",
    ]);
    expect(within(rows[0]!).getByRole("link", { name: "#42" }).getAttribute("href")).toBe("/jobs/42");
  });

  it("says so when there are no jobs", () => {
    render(JobTable, { props: { jobs: [] }, global: { plugins: [router] } });
    expect(screen.getByText("No jobs.")).toBeTruthy();
  });

  it("colours a status by its name", () => {
    const { container } = render(StatusBadge, { props: { status: "failed", state: "cancelled" } });
    expect(container.querySelector(".badge")!.className).toContain("s-failed");
    expect(container.textContent).toContain("failed (cancelled)");
  });
});
