import { describe, expect, it } from "vitest";
import { fireEvent, screen, waitFor } from "@testing-library/vue";
import { fakeApi } from "../test/fakeApi";
import { FakeWebSocket } from "../test/fakeSocket";
import { openSession, receipt, receiptPage, summary } from "../test/fixtures";
import { renderApp } from "../test/render";

describe("webhooks", () => {
  it("new receipts from the stream appear on top, if they match the filters", async () => {
    const fake = fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/webhooks", { body: receiptPage(3, null) });
    await renderApp("/webhooks");
    await waitFor(() => expect(document.querySelectorAll('[data-testid="receipts-table"] tbody tr').length).toBe(3));
    const ws = FakeWebSocket.latest("topic=webhooks");
    ws.open();
    ws.message(summary);
    await screen.findByText("push");
    expect(document.querySelector('[data-testid="receipts-table"] tbody tr')!.textContent).toContain("github");

    await fireEvent.update(screen.getByLabelText("Source"), "test");
    await fireEvent.click(screen.getByRole("button", { name: "Filter" }));
    await waitFor(() => expect(fake.callsTo("GET", "/api/webhooks").at(-1)!.searchParams.get("source")).toBe("test"));
    ws.message({ ...summary, id: "22222222-2222-4333-8444-555555555555", event: "not-for-this-filter" });
    await new Promise((r) => setTimeout(r, 250));
    expect(screen.queryByText("not-for-this-filter")).toBeNull();
  });

  it("receipt page: redacted headers, pretty payload, processing state, replay", async () => {
    fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", `/api/webhooks/${receipt.id}`, { body: receipt })
      .on("POST", `/api/webhooks/${receipt.id}/replay`, { status: 202, body: { job_id: "501", receipt_id: receipt.id } });
    await renderApp(`/webhooks/${receipt.id}`);
    expect((await screen.findByTestId("payload")).textContent).toBe(JSON.stringify(receipt.payload, null, 2));
    expect(screen.getByText("X-Webhook-Signature").closest("tr")!.textContent).toContain("[redacted]");
    expect(screen.getByTestId("processing").textContent).toMatch(/^processed /);
    await fireEvent.click(screen.getByRole("button", { name: "Replay" }));
    expect((await screen.findByRole("link", { name: "job #501" })).getAttribute("href")).toBe("/jobs/501");
  });
});
