import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fireEvent, render, screen } from "@testing-library/vue";
import SendWebhookPanel from "./SendWebhookPanel.vue";

// The body and signature as the shell would send them.
function parse(curl: string): { sig: string; body: string; url: string } {
  const sig = /X-Webhook-Signature: sha256=([0-9a-f]+)'/.exec(curl)?.[1];
  const quoted = /--data-binary '((?:[^']|'\\'')*)'$/.exec(curl)?.[1];
  const url = /-X POST '([^']+)'/.exec(curl)?.[1];
  if (!sig || quoted === undefined || !url) throw new Error(`unexpected command:\n${curl}`);
  return { sig, body: quoted.replace(/'\\''/g, "'"), url };
}

describe("how to send one", () => {
  it("signs the example body the way the server checks it (HMAC-SHA256 with test-secret)", () => {
    render(SendWebhookPanel);
    const { sig, body, url } = parse(screen.getByTestId("curl").textContent!);
    expect(url).toMatch(/\/api\/webhooks\/test$/);
    expect(sig).toBe(createHmac("sha256", "test-secret").update(body).digest("hex"));
  });

  it("re-signs an edited body (quotes included) with an edited secret", async () => {
    render(SendWebhookPanel);
    await fireEvent.update(screen.getByLabelText("Secret"), "rotated-secret");
    await fireEvent.update(screen.getByLabelText("Body"), `{"event":"it's","n":"é"}`);
    const { sig, body } = parse(screen.getByTestId("curl").textContent!);
    expect(body).toBe(`{"event":"it's","n":"é"}`);
    expect(sig).toBe(createHmac("sha256", "rotated-secret").update(Buffer.from(body, "utf8")).digest("hex"));
  });
});
