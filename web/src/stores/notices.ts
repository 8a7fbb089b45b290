// Notices every page shares: the database banner (503s being retried) and
// the live-connection banner (any WebSocket reconnecting). Plain Vue
// reactivity: a module-level reactive object is the whole store.
import { computed, reactive, shallowReactive } from "vue";
import type { LiveSocket } from "../live/socket";

const state = reactive({ databaseDown: false });
// Shallow: the sockets' own refs must stay refs.
const sockets = shallowReactive(new Set<LiveSocket<unknown>>());

export const notices = {
  get databaseDown(): boolean {
    return state.databaseDown;
  },
  databaseUnavailable(): void {
    state.databaseDown = true;
  },
  databaseRecovered(): void {
    state.databaseDown = false;
  },
  track(s: LiveSocket<unknown>): void {
    sockets.add(s);
  },
  untrack(s: LiveSocket<unknown>): void {
    sockets.delete(s);
  },
};

/** The soonest reconnect among lost connections, or null when all are up. */
export const lostConnection = computed<{ retryAt: number | null; label: string } | null>(() => {
  let lost: { retryAt: number | null; label: string } | null = null;
  for (const s of sockets) {
    if (s.state.value !== "reconnecting") continue;
    const at = s.retryAt.value;
    if (lost === null || (at !== null && (lost.retryAt === null || at < lost.retryAt))) {
      lost = { retryAt: at, label: s.label };
    }
  }
  return lost;
});
