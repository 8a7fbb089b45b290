// Who the console is signed in as. Plain Vue reactivity (no Pinia): one
// module-level reactive object and functions; the console's stores are
// small, and factories (a job watch per job page) need no registry.
//
// Sessions (POST /api/session, issue 11) are the way in. Until a server has
// them (its GET /api/session answers 404), the console falls back to
// keeping the token in sessionStorage and sending it as a bearer token (and
// as ?token= on topic streams), so it works against both.
import { reactive } from "vue";
import { api, ApiError, setBearerToken, toApiError } from "../api/client";

export type AuthMode = "unknown" | "open" | "session" | "token" | "signed-out";

const TOKEN_KEY = "bespin.token";

const state = reactive({
  mode: "unknown" as AuthMode,
  expiresAt: null as string | null,
});

function storage(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

function forgetToken(): void {
  setBearerToken(null);
  storage()?.removeItem(TOKEN_KEY);
}

async function network<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached.");
  }
}

/** Whether the token (or none) opens the read API on a server without sessions. */
async function probe(): Promise<"ok" | "unauthorized"> {
  const r = await network(api.GET("/api/jobs", { params: { query: { limit: 1 } } }));
  if (r.response.ok) return "ok";
  if (r.response.status === 401) return "unauthorized";
  throw toApiError(r.response, r.error);
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
  /** Whether there is anything to sign out of. */
  get canSignOut(): boolean {
    return state.mode === "session" || state.mode === "token";
  },

  /** Asks the server who we are. */
  async check(): Promise<AuthMode> {
    const stored = storage()?.getItem(TOKEN_KEY) ?? null;
    if (stored !== null) setBearerToken(stored);
    const r = await network(api.GET("/api/session"));
    if (r.response.ok && r.data) {
      state.mode = r.data.auth;
      state.expiresAt = r.data.expires_at ?? null;
    } else if (r.response.status === 401) {
      forgetToken();
      state.mode = "signed-out";
    } else if (r.response.status === 404) {
      // A server without sessions (before issue 11).
      const p = await probe();
      if (p === "ok") {
        state.mode = stored !== null ? "token" : "open";
      } else {
        forgetToken();
        state.mode = "signed-out";
      }
      state.expiresAt = null;
    } else {
      throw toApiError(r.response, r.error);
    }
    return state.mode;
  },

  async signIn(token: string): Promise<void> {
    const r = await network(api.POST("/api/session", { body: { token } }));
    if (r.response.ok && r.data) {
      forgetToken();
      state.mode = "session";
      state.expiresAt = r.data.expires_at;
      return;
    }
    if (r.response.status !== 404) throw toApiError(r.response, r.error);
    setBearerToken(token);
    if ((await probe()) === "ok") {
      storage()?.setItem(TOKEN_KEY, token);
      state.mode = "token";
      state.expiresAt = null;
      return;
    }
    forgetToken();
    throw new ApiError(401, "invalid_token", "That token is not one of this server's API tokens.");
  },

  async signOut(): Promise<void> {
    forgetToken();
    try {
      await api.DELETE("/api/session");
    } catch {
      // Signed out here either way.
    }
    state.mode = "signed-out";
    state.expiresAt = null;
  },

  /** A request was refused with 401. */
  markSignedOut(): void {
    if (state.mode !== "open") forgetToken();
    state.mode = "signed-out";
  },

  /** For tests. */
  reset(): void {
    forgetToken();
    state.mode = "unknown";
    state.expiresAt = null;
  },
};
