import { afterEach, beforeEach, vi } from "vitest";
import { cleanup } from "@testing-library/vue";
import { FakeWebSocket } from "./fakeSocket";
import { closeAllTopics } from "../live/topics";
import { auth } from "../stores/auth";
import { notices } from "../stores/notices";
import { setUnauthorizedHandler } from "../api/client";

beforeEach(() => {
  FakeWebSocket.all = [];
  vi.stubGlobal("WebSocket", FakeWebSocket);
});

afterEach(() => {
  cleanup();
  closeAllTopics();
  auth.reset();
  notices.databaseRecovered();
  setUnauthorizedHandler(null);
  vi.useRealTimers();
  vi.unstubAllGlobals();
});
