import { describe, expect, it } from "vitest";
import { toSeries } from "./stats";
import { stats } from "../test/fixtures";

describe("stats series", () => {
  it("sums receipts over events per source and hour, takes the worst p95, fills empty hours", () => {
    const s = toSeries(stats.stats, stats.since, stats.until, "hour");
    expect(s.times.map((t) => new Date(t * 1000).toISOString())).toEqual([
      "2026-11-22T08:00:00.000Z",
      "2026-11-22T09:00:00.000Z",
      "2026-11-22T10:00:00.000Z",
    ]);
    expect(s.sources).toEqual(["github", "test"]);
    expect(s.receipts).toEqual([
      [0, 0, 5],
      [4, 0, 0],
    ]);
    expect(s.p95).toEqual([
      [null, null, 0.9],
      [null, null, null],
    ]);
    expect(s.totals).toEqual([
      { source: "github", receipts: 5, processed: 4, worstP95: 0.9 },
      { source: "test", receipts: 4, processed: 4, worstP95: null },
    ]);
  });
});
