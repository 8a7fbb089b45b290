import { describe, expect, it } from "vitest";
import { LiveSocket } from "./socket";

describe("reconnect backoff", () => {
  it("doubles from 500 ms up to 15 s, with jitter between half and all of it", () => {
    const max = new LiveSocket({ label: "t", url: () => "ws://x", parse: () => null, onMessage: () => {}, random: () => 1 });
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((n) => max.delayFor(n))).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    const min = new LiveSocket({ label: "t", url: () => "ws://x", parse: () => null, onMessage: () => {}, random: () => 0 });
    expect([0, 3, 10].map((n) => min.delayFor(n))).toEqual([250, 2000, 7500]);
  });
});
