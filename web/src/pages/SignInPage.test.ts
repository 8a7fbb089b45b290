import { describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor } from "@testing-library/vue";
import { fakeApi } from "../test/fakeApi";
import { browser } from "../lib/navigate";
import { jobPage } from "../test/fixtures";
import { renderApp } from "../test/render";

const unauthorized = { status: 401, body: { error: { code: "unauthorized", message: "token needed" } } };

describe("sign in", () => {
  it("with sessions: the token becomes a session and the user goes back where they were", async () => {
    let signedIn = false;
    const fake = fakeApi()
      .on("GET", "/api/session", () => (signedIn ? { body: { authenticated: true, expires_at: "2026-11-23T10:00:00Z", auth: "session" } } : unauthorized))
      .on("POST", "/api/session", () => {
        signedIn = true;
        return { body: { expires_at: "2026-11-23T10:00:00Z" } };
      })
      .on("GET", "/api/jobs", { body: jobPage([1], null) });
    const { router } = await renderApp("/jobs");
    await waitFor(() => expect(router.currentRoute.value.name).toBe("signin"));
    await fireEvent.update(await screen.findByLabelText("API token"), "  s3cret  ");
    expect(screen.queryByText(/Your session has ended/)).toBeNull(); // never signed in: nothing ended
    await fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(router.currentRoute.value.fullPath).toBe("/jobs"));
    expect(JSON.parse(fake.calls.find((c) => c.method === "POST")!.body)).toEqual({ token: "s3cret" });
    expect(await screen.findByRole("button", { name: "Sign out" })).toBeTruthy();
  });

  it("a wrong token is refused with a sentence, and the user stays on sign-in", async () => {
    fakeApi()
      .on("GET", "/api/session", unauthorized)
      .on("POST", "/api/session", { status: 401, body: { error: { code: "invalid_token", message: "no" } } });
    const { router } = await renderApp("/signin");
    await fireEvent.update(await screen.findByLabelText("API token"), "wrong");
    await fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toContain("That token is not one of this server's API tokens.");
    expect(router.currentRoute.value.name).toBe("signin");
  });

  it("back to River UI: a full page load, since River UI is no console route", async () => {
    const load = vi.spyOn(browser, "load").mockImplementation(() => {});
    fakeApi()
      .on("GET", "/api/session", unauthorized)
      .on("POST", "/api/session", { body: { expires_at: "2026-11-23T10:00:00Z" } });
    // Where the server's 303 sends a browser without a session.
    const { router } = await renderApp("/signin?next=%2Friverui%2Fjobs%3Fstate%3Dcompleted");
    await fireEvent.update(await screen.findByLabelText("API token"), "s3cret");
    await fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(load).toHaveBeenCalledWith("/riverui/jobs?state=completed"));
    expect(router.currentRoute.value.name).toBe("signin"); // not the console's "not found"
  });

  it("next is a path on this site only", async () => {
    fakeApi()
      .on("GET", "/api/session", unauthorized)
      .on("POST", "/api/session", { body: { expires_at: "2026-11-23T10:00:00Z" } })
      .on("GET", "/api/jobs", { body: jobPage([1], null) });
    const load = vi.spyOn(browser, "load").mockImplementation(() => {});
    const { router } = await renderApp("/signin?next=%2F%2Fevil.example%2Friverui%2F");
    await fireEvent.update(await screen.findByLabelText("API token"), "s3cret");
    await fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(router.currentRoute.value.fullPath).toBe("/"));
    expect(load).not.toHaveBeenCalled();
  });

  it("too many attempts: says when to try again (429 with Retry-After)", async () => {
    fakeApi()
      .on("GET", "/api/session", unauthorized)
      .on("POST", "/api/session", {
        status: 429,
        headers: { "Retry-After": "6" },
        body: { error: { code: "rate_limited", message: "Too many sign-in attempts." } },
      });
    await renderApp("/signin");
    await fireEvent.update(await screen.findByLabelText("API token"), "guess");
    await fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Too many requests. Try again in 6 seconds.");
  });

  it("a server that lost its API_TOKEN meanwhile (409 sessions_disabled): open, and on to the page", async () => {
    fakeApi()
      .on("GET", "/api/session", unauthorized)
      .on("POST", "/api/session", {
        status: 409,
        body: { error: { code: "sessions_disabled", message: "This server has no API_TOKEN (development)." } },
      })
      .on("GET", "/api/jobs", { body: jobPage([1], null) });
    const { router } = await renderApp("/jobs");
    await waitFor(() => expect(router.currentRoute.value.name).toBe("signin"));
    await fireEvent.update(await screen.findByLabelText("API token"), "s3cret");
    await fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await screen.findByText("#1");
    expect(router.currentRoute.value.fullPath).toBe("/jobs");
    expect(screen.getByText("open (dev)")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Sign out" })).toBeNull();
  });

  it("signed in: the header says until when, and signing out ends the session", async () => {
    let signedIn = true;
    const fake = fakeApi()
      .on("GET", "/api/session", () =>
        signedIn ? { body: { authenticated: true, expires_at: "2026-11-23T10:00:00Z", auth: "session" } } : unauthorized,
      )
      .on("DELETE", "/api/session", () => {
        signedIn = false;
        return { status: 204 };
      })
      .on("GET", "/api/jobs", { body: jobPage([1], null) });
    const { router } = await renderApp("/jobs");
    const session = await screen.findByTestId("session");
    expect(session.textContent).toMatch(/signed in until .*2026/);
    expect(session.querySelector("time")!.getAttribute("datetime")).toBe("2026-11-23T10:00:00Z");
    await fireEvent.click(screen.getByRole("button", { name: "Sign out" }));
    await waitFor(() => expect(router.currentRoute.value.name).toBe("signin"));
    expect(fake.callsTo("DELETE", "/api/session").length).toBe(1);
    expect(screen.queryByTestId("session")).toBeNull();
    await router.push("/jobs");
    expect(router.currentRoute.value.name).toBe("signin");
  });

  it("development without API_TOKEN: nothing to sign in to", async () => {
    fakeApi().on("GET", "/api/session", { body: { authenticated: true, expires_at: null, auth: "open" } });
    await renderApp("/signin");
    expect(await screen.findByText(/there is nothing to sign in to/)).toBeTruthy();
    expect(screen.queryByLabelText("API token")).toBeNull();
  });
});
