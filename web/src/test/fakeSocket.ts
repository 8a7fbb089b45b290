// A WebSocket stand-in for component tests: the test opens, feeds and
// closes each connection the code under test makes.
export class FakeWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  static all: FakeWebSocket[] = [];

  readyState = 0;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  closedByClient = false;

  constructor(readonly url: string) {
    FakeWebSocket.all.push(this);
  }

  static latest(match: string): FakeWebSocket {
    const found = [...FakeWebSocket.all].reverse().find((s) => s.url.includes(match));
    if (!found) throw new Error(`no WebSocket opened for ${match}; opened: ${FakeWebSocket.all.map((s) => s.url).join(", ")}`);
    return found;
  }

  static count(match: string): number {
    return FakeWebSocket.all.filter((s) => s.url.includes(match)).length;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }

  send(): void {}

  /** The server sends msg (JSON-encoded). */
  message(msg: unknown): void {
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify(msg) }));
  }

  /** The connection ends (code 1006: dropped). */
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.(new CloseEvent("close", { code, wasClean: code === 1000 }));
  }

  close(): void {
    this.closedByClient = true;
    this.readyState = 3;
  }
}
