// A fetch stand-in answering with recorded API shapes (fixtures.ts).
import { vi } from "vitest";

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

type Handler = (url: URL, req: Request) => Reply | Promise<Reply>;

export interface FakeApi {
  on(method: string, path: string | RegExp, handler: Handler | Reply): FakeApi;
  calls: { method: string; url: URL; body: string }[];
  callsTo(method: string, path: string | RegExp): URL[];
}

export function fakeApi(): FakeApi {
  const routes: { method: string; path: string | RegExp; handler: Handler }[] = [];
  const calls: FakeApi["calls"] = [];
  const matches = (p: string | RegExp, pathname: string) => (typeof p === "string" ? p === pathname : p.test(pathname));
  const api: FakeApi = {
    on(method, path, handler) {
      routes.unshift({ method, path, handler: typeof handler === "function" ? handler : () => handler });
      return api;
    },
    calls,
    callsTo: (method, path) => calls.filter((c) => c.method === method && matches(path, c.url.pathname)).map((c) => c.url),
  };
  vi.stubGlobal("fetch", async (input: Request) => {
    const req = input instanceof Request ? input : new Request(input);
    const url = new URL(req.url);
    calls.push({ method: req.method, url, body: req.method === "GET" ? "" : await req.clone().text() });
    const route = routes.find((r) => r.method === req.method && matches(r.path, url.pathname));
    const reply: Reply = route
      ? await route.handler(url, req)
      : { status: 404, body: { error: { code: "not_found", message: `No endpoint ${req.method} ${url.pathname}` } } };
    const status = reply.status ?? 200;
    const body = reply.body === undefined || status === 204 ? null : JSON.stringify(reply.body);
    return new Response(body, { status, headers: { "Content-Type": "application/json", ...reply.headers } });
  });
  return api;
}
