// The one HTTP client: openapi-fetch typed by the generated paths, plus the
// error handling every page shares (ApiError, 503 retries, 401 → sign-in).
// Credentials are the session cookie, which the browser sends itself on
// these same-origin requests.
import createClient from "openapi-fetch";
import type { ErrorBody, paths } from "./types";
import { notices } from "../stores/notices";

/** An API answer that is not a success, in the API's own terms. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds, from Retry-After (429, 503). */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

let onUnauthorized: (() => void) | null = null;
/** Called on a 401 from any request that does not opt out (the auth store
 * sends the user to the sign-in page). */
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? "http://localhost",
  // Looked up at call time, so tests can replace fetch.
  fetch: (request: Request) => globalThis.fetch(request),
});

function isErrorBody(v: unknown): v is ErrorBody {
  if (typeof v !== "object" || v === null || !("error" in v)) return false;
  const e = (v as { error: unknown }).error;
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

function retryAfterOf(response: Response): number | null {
  const v = response.headers.get("Retry-After");
  if (v === null) return null;
  const n = Number(v);
  if (Number.isFinite(n)) return Math.max(0, Math.ceil(n));
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** Turns a failed response into an ApiError. */
export function toApiError(response: Response, body: unknown): ApiError {
  const retryAfter = retryAfterOf(response);
  if (isErrorBody(body)) {
    return new ApiError(response.status, body.error.code, body.error.message, retryAfter);
  }
  return new ApiError(response.status, `http_${response.status}`, response.statusText || `HTTP ${response.status}`, retryAfter);
}

export interface CallOptions {
  /** Retry 503 (database unavailable) with backoff; default true. Only
   * for requests that are safe to repeat. */
  retryUnavailable?: boolean;
  /** Go to sign-in on 401; default true. */
  redirectOn401?: boolean;
  /** How many 503s to ride out before giving up. */
  maxRetries?: number;
}

export const retryDelays = { initialMs: 1000, maxMs: 10_000 };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Runs send (an openapi-fetch call) and returns its data, or throws an
 * ApiError: 401 also signs the user out, 503 is retried with backoff while
 * the "database unavailable" notice shows, a network failure is status 0.
 */
export async function call<T>(send: () => Promise<Answer<T>>, opts: CallOptions = {}): Promise<T> {
  const retry = opts.retryUnavailable ?? true;
  const maxRetries = opts.maxRetries ?? 8;
  for (let attempt = 0; ; attempt++) {
    let answer: Answer<T>;
    try {
      answer = await send();
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError") throw err;
      throw new ApiError(0, "network", "The server cannot be reached.");
    }
    const { response } = answer;
    if (response.ok) {
      if (attempt > 0) notices.databaseRecovered();
      return answer.data as T;
    }
    const err = toApiError(response, answer.error);
    if (response.status === 503 && retry && attempt < maxRetries) {
      notices.databaseUnavailable();
      const backoff = Math.min(retryDelays.maxMs, retryDelays.initialMs * 2 ** attempt);
      await sleep(Math.min(retryDelays.maxMs, Math.max(backoff, (err.retryAfter ?? 0) * 1000)));
      continue;
    }
    if (response.status === 401 && (opts.redirectOn401 ?? true)) onUnauthorized?.();
    throw err;
  }
}

/** A sentence a person understands, for any error the console shows. */
export function humanMessage(err: unknown): string {
  if (!(err instanceof ApiError)) {
    return err instanceof Error ? err.message : "Something went wrong.";
  }
  switch (err.status) {
    case 0:
      return "The server cannot be reached. Check your connection; the console keeps trying.";
    case 401:
      return "Your session has ended or the token is not valid. Please sign in.";
    case 429: {
      const s = err.retryAfter ?? 1;
      return `Too many requests. Try again in ${s} second${s === 1 ? "" : "s"}.`;
    }
    case 503:
      return "The database is unavailable. The console is retrying; try again shortly.";
    case 500:
      return "Something went wrong on the server. It has been logged; try again.";
  }
  return err.message;
}
