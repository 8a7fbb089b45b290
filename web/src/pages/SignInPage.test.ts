import { describe, expect, it } from "vitest";
import { fireEvent, screen, waitFor } from "@testing-library/vue";
import { fakeApi } from "../test/fakeApi";
import { FakeWebSocket } from "../test/fakeSocket";
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

  it("a server without sessions: the token is sent as a bearer token, and on streams as ?token=", async () => {
    const fake = fakeApi().on("GET", "/api/jobs", (_url, req) =>
      req.headers.get("Authorization") === "Bearer s3cret" ? { body: jobPage([1], null) } : unauthorized,
    ); // GET/POST /api/session: 404
    const { router } = await renderApp("/jobs");
    await waitFor(() => expect(router.currentRoute.value.name).toBe("signin"));
    await fireEvent.update(await screen.findByLabelText("API token"), "s3cret");
    await fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await screen.findByText("#1");
    expect(router.currentRoute.value.fullPath).toBe("/jobs");
    expect(new URL(FakeWebSocket.latest("topic=jobs").url).searchParams.get("token")).toBe("s3cret");
    expect(fake.callsTo("GET", "/api/jobs").length).toBeGreaterThan(1);
  });

  it("development without API_TOKEN: nothing to sign in to", async () => {
    fakeApi().on("GET", "/api/session", { body: { authenticated: true, expires_at: null, auth: "open" } });
    await renderApp("/signin");
    expect(await screen.findByText(/there is nothing to sign in to/)).toBeTruthy();
    expect(screen.queryByLabelText("API token")).toBeNull();
  });
});
