// A WebSocket that comes back: reconnects with capped, jittered exponential
// backoff, tells its owner when it is open again (so the owner resyncs over
// REST), and exposes its state for the "connection lost" banners.
import { ref, type Ref } from "vue";
import { notices } from "../stores/notices";

export type SocketState = "connecting" | "open" | "reconnecting" | "closed";

export interface LiveSocketOptions<T> {
  /** Shown in the connection banner ("job 42", "jobs stream"). */
  label: string;
  /** The URL, computed at each (re)connect. */
  url: () => string;
  /** Parses one text frame; null drops it. */
  parse: (data: string) => T | null;
  onMessage: (msg: T) => void;
  /** Called on every open; reconnected is false the first time. */
  onOpen?: (reconnected: boolean) => void;
  /** Whether to come back after this close; default always. */
  shouldReconnect?: (ev: CloseEvent) => boolean;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** For tests: the WebSocket class and the jitter source. */
  WebSocketImpl?: typeof WebSocket;
  random?: () => number;
}

/** A connection that stays open this long resets the backoff. */
const stableAfterMs = 5000;

export class LiveSocket<T> {
  readonly state: Ref<SocketState> = ref("closed");
  /** Milliseconds until the next attempt while reconnecting. */
  readonly retryInMs: Ref<number | null> = ref(null);
  /** Date.now() of the next attempt while reconnecting. */
  readonly retryAt: Ref<number | null> = ref(null);
  readonly label: string;

  private ws: WebSocket | null = null;
  private attempts = 0;
  private opened = false;
  private stopped = true;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private stableTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly opts: LiveSocketOptions<T>) {
    this.label = opts.label;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    notices.track(this as LiveSocket<unknown>);
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.retryInMs.value = null;
    this.retryAt.value = null;
    notices.untrack(this as LiveSocket<unknown>);
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      if (ws.readyState === ws.CONNECTING || ws.readyState === ws.OPEN) ws.close(1000, "page left");
    }
    this.state.value = "closed";
  }

  /** The delay before attempt n (0-based): initial·2ⁿ capped at max, with
   * jitter between half and all of it. */
  delayFor(n: number): number {
    const initial = this.opts.initialDelayMs ?? 500;
    const max = this.opts.maxDelayMs ?? 15_000;
    const base = Math.min(max, initial * 2 ** n);
    const r = (this.opts.random ?? Math.random)();
    return Math.round(base / 2 + (base / 2) * r);
  }

  private connect(): void {
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    this.state.value = this.opened ? "reconnecting" : "connecting";
    const ws = new Impl(this.opts.url());
    this.ws = ws;
    ws.onopen = () => {
      const reconnected = this.opened;
      this.opened = true;
      this.state.value = "open";
      this.retryInMs.value = null;
      this.retryAt.value = null;
      this.stableTimer = setTimeout(() => (this.attempts = 0), stableAfterMs);
      this.opts.onOpen?.(reconnected);
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== "string") return;
      const msg = this.opts.parse(ev.data);
      if (msg !== null) this.opts.onMessage(msg);
    };
    ws.onclose = (ev: CloseEvent) => {
      this.ws = null;
      this.clearTimers();
      if (this.stopped) return;
      if (this.opts.shouldReconnect && !this.opts.shouldReconnect(ev)) {
        this.stopped = true;
        notices.untrack(this as LiveSocket<unknown>);
        this.state.value = "closed";
        return;
      }
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    const delay = this.delayFor(this.attempts);
    this.attempts++;
    this.opened = true; // whatever happens next is a reconnect
    this.state.value = "reconnecting";
    this.retryInMs.value = delay;
    this.retryAt.value = Date.now() + delay;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.retryInMs.value = null;
      this.retryAt.value = null;
      if (!this.stopped) this.connect();
    }, delay);
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.stableTimer !== null) clearTimeout(this.stableTimer);
    this.retryTimer = this.stableTimer = null;
  }
}

/** ws(s)://<this host><path>?<params>. */
export function wsUrl(path: string, params: Record<string, string>): string {
  const loc = globalThis.location;
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}${path}?${new URLSearchParams(params).toString()}`;
}
