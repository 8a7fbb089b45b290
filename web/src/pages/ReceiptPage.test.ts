import { describe, expect, it } from "vitest";
import { fireEvent, screen, waitFor } from "@testing-library/vue";
import { fakeApi } from "../test/fakeApi";
import { openSession, receipt } from "../test/fixtures";
import type { ReplayAccepted } from "../api/types";
import { renderApp } from "../test/render";

describe("receipt page", () => {
  it("replay: links the new job and follows the receipt until it is processed again", async () => {
    let replayed = false;
    let readsAfter = 0;
    fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", `/api/webhooks/${receipt.id}`, () => {
        if (!replayed) return { body: receipt };
        // processed_at is null until the new job has run.
        return { body: { ...receipt, processed_at: ++readsAfter < 2 ? null : "2026-11-22T11:30:00Z" } };
      })
      .on("POST", `/api/webhooks/${receipt.id}/replay`, () => {
        replayed = true;
        return { status: 202, body: { job_id: "99", receipt_id: receipt.id } satisfies ReplayAccepted };
      });
    await renderApp(`/webhooks/${receipt.id}`);
    const processing = await screen.findByTestId("processing");
    await waitFor(() => expect(processing.querySelector("time")?.getAttribute("datetime")).toBe(receipt.processed_at));
    await fireEvent.click(screen.getByRole("button", { name: "Replay" }));
    expect(await screen.findByRole("link", { name: "job #99" })).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("processing").textContent).toContain("waiting to be processed"));
    await waitFor(() => expect(screen.getByTestId("processing").querySelector("time")?.getAttribute("datetime")).toBe("2026-11-22T11:30:00Z"), {
      timeout: 5000,
    });
  });
});
