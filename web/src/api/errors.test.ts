import { describe, expect, it } from "vitest";
import { fireEvent, screen, waitFor } from "@testing-library/vue";
import { fakeApi } from "../test/fakeApi";
import { jobPage, openSession } from "../test/fixtures";
import { renderApp } from "../test/render";
import { ApiError, api, call, humanMessage, retryDelays } from "./client";

describe("errors a person understands", () => {
  it("429: says when to try again, from Retry-After", async () => {
    const fake = fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs", { body: jobPage([3, 2, 1], null) })
      .on("POST", "/api/jobs/random-text", {
        status: 429,
        headers: { "Retry-After": "12" },
        body: { error: { code: "rate_limited", message: "Too many requests from this address; retry after 12 seconds." } },
      });
    await renderApp("/jobs");
    await fireEvent.click(await screen.findByRole("button", { name: "Create job" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Too many requests. Try again in 12 seconds.");
    expect(fake.callsTo("POST", "/api/jobs/random-text")[0]!.searchParams.get("length")).toBe("100");
  });

  it("401: sends the user to sign-in, and back afterwards", async () => {
    fakeApi()
      .on("GET", "/api/session", { body: { authenticated: true, expires_at: "2026-11-23T10:00:00Z", auth: "session" } })
      .on("GET", "/api/jobs", { status: 401, body: { error: { code: "unauthorized", message: "This endpoint needs a token." } } });
    const { router } = await renderApp("/jobs?state=failed");
    await waitFor(() => expect(router.currentRoute.value.name).toBe("signin"));
    expect(router.currentRoute.value.query.next).toBe("/jobs?state=failed");
    expect(await screen.findByLabelText("API token")).toBeTruthy();
    expect(screen.getByText("Your session has ended. Sign in again to go on where you were.")).toBeTruthy();
  });

  it("503: shows 'database unavailable, retrying' while it retries, then the data", async () => {
    retryDelays.initialMs = 20;
    let n = 0;
    fakeApi()
      .on("GET", "/api/session", { body: openSession })
      .on("GET", "/api/jobs", () =>
        ++n <= 2
          ? { status: 503, headers: { "Retry-After": "0" }, body: { error: { code: "service_unavailable", message: "retry" } } }
          : { body: jobPage([9], null) },
      );
    await renderApp("/jobs");
    expect(await screen.findByText("Database unavailable, retrying…")).toBeTruthy();
    expect(await screen.findByRole("link", { name: "#9" })).toBeTruthy();
    await waitFor(() => expect(screen.queryByText("Database unavailable, retrying…")).toBeNull());
    expect(n).toBe(3);
    retryDelays.initialMs = 1000;
  });

  it("503 that lasts: gives up with a message, not a blank page", async () => {
    retryDelays.initialMs = 1;
    fakeApi().on("GET", "/api/jobs", { status: 503, body: { error: { code: "service_unavailable", message: "retry" } } });
    const err = await call(() => api.GET("/api/jobs", {}), { maxRetries: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(humanMessage(err)).toBe("The database is unavailable. The console is retrying; try again shortly.");
    retryDelays.initialMs = 1000;
  });

  it("network failure: says the server cannot be reached", async () => {
    const err = await call(() => Promise.reject(new TypeError("fetch failed"))).catch((e: unknown) => e);
    expect(humanMessage(err)).toMatch(/server cannot be reached/);
  });
});
