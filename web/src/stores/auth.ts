// Who the console is signed in as. Plain Vue reactivity (no Pinia): one
// module-level reactive object and functions; the console's stores are
// small, and factories (a job watch per job page) need no registry.
//
// A browser signs in with a session (POST /api/session {"token"} sets the
// HttpOnly bespin_session cookie, which every request, WebSockets and
// River UI included, then carries); the token itself is never kept. In
// development without API_TOKEN everything is open (GET /api/session says
// auth "open"; POST answers 409 sessions_disabled).
import { reactive } from "vue";
import { api, ApiError, toApiError } from "../api/client";

export type AuthMode = "unknown" | "open" | "session" | "token" | "signed-out";

const state = reactive({
  mode: "unknown" as AuthMode,
  /** When the session ends (RFC 3339), for sessions only. */
  expiresAt: null as string | null,
});

async function network<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached.");
  }
}

export const auth = {
  get mode(): AuthMode {
    return state.mode;
  },
  get expiresAt(): string | null {
    return state.expiresAt;
  },
  get signedIn(): boolean {
    return state.mode === "open" || state.mode === "session" || state.mode === "token";
  },
  /** Whether there is a session to sign out of. */
  get canSignOut(): boolean {
    return state.mode === "session";
  },

  /** Asks the server who we are. */
  async check(): Promise<AuthMode> {
    const r = await network(api.GET("/api/session"));
    if (r.response.ok && r.data) {
      state.mode = r.data.auth;
      state.expiresAt = r.data.expires_at;
    } else if (r.response.status === 401) {
      state.mode = "signed-out";
      state.expiresAt = null;
    } else {
      throw toApiError(r.response, r.error);
    }
    return state.mode;
  },

  /** Makes a session from token; throws an ApiError when refused (401
   * invalid_token, 429 with its retry time, …). A server without
   * API_TOKEN (409 sessions_disabled) is open: nothing to sign in to. */
  async signIn(token: string): Promise<void> {
    const r = await network(api.POST("/api/session", { body: { token } }));
    if (r.response.ok && r.data) {
      state.mode = "session";
      state.expiresAt = r.data.expires_at;
      return;
    }
    const err = toApiError(r.response, r.error);
    if (err.status === 409 && err.code === "sessions_disabled") {
      state.mode = "open";
      state.expiresAt = null;
      return;
    }
    throw err;
  },

  async signOut(): Promise<void> {
    try {
      await api.DELETE("/api/session");
    } catch {
      // Signed out here either way; the cookie ends with its session.
    }
    state.mode = "signed-out";
    state.expiresAt = null;
  },

  /** A request was refused with 401. */
  markSignedOut(): void {
    state.mode = "signed-out";
    state.expiresAt = null;
  },

  /** For tests. */
  reset(): void {
    state.mode = "unknown";
    state.expiresAt = null;
  },
};
