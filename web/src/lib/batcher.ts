// Collects items that arrive faster than the page should redraw and hands
// them over together, at most once per interval (a timer, not
// requestAnimationFrame, so a hidden tab still drains its buffer).
export interface Batcher<T> {
  push(item: T): void;
  flush(): void;
  cancel(): void;
}

export function createBatcher<T>(apply: (items: T[]) => void, intervalMs = 100): Batcher<T> {
  let buffer: T[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (buffer.length === 0) return;
    const items = buffer;
    buffer = [];
    apply(items);
  };
  return {
    push(item) {
      buffer.push(item);
      if (timer === null) timer = setTimeout(flush, intervalMs);
    },
    flush,
    cancel() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      buffer = [];
    },
  };
}
