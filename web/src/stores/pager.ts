// Keyset paging over a list endpoint that answers with `next_cursor`: the
// stack of cursors that led to the current page, so "newer" can go back
// without the server paging backwards. Shared by the jobs and receipts
// lists; `load` reads the page at `cursor()` and records `nextCursor`.
import { computed, ref } from "vue";

export function createPager(load: () => Promise<void>) {
  const cursors = ref<(string | null)[]>([null]);
  const nextCursor = ref<string | null>(null);
  /** 0 for the newest page. */
  const page = computed(() => cursors.value.length - 1);

  return {
    page,
    nextCursor,
    /** The cursor of the current page (undefined for the first). */
    cursor: (): string | undefined => cursors.value[cursors.value.length - 1] ?? undefined,
    async first(): Promise<void> {
      cursors.value = [null];
      await load();
    },
    async older(): Promise<void> {
      if (nextCursor.value === null) return;
      cursors.value = [...cursors.value, nextCursor.value];
      await load();
    },
    async newer(): Promise<void> {
      if (cursors.value.length <= 1) return;
      cursors.value = cursors.value.slice(0, -1);
      await load();
    },
  };
}
