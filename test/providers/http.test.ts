import { describe, expect, it } from "vitest";
import {
  failure,
  joinUrl,
  parseRetryAfter,
  providerFetch,
  redact,
  unsupportedContent,
} from "../../src/providers/http";
import type { Channel, MessageContent } from "../../src/providers/types";
import { PROVIDER_TIMEOUT_MS } from "../../src/providers/types";
import { emailContent, textContent } from "./support";

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it.each([
    ["30", 30],
    [" 5 ", 5],
    ["0", 0],
    ["999999", 86_400],
    ["Thu, 01 Jan 2026 00:02:00 GMT", 120],
    ["Wed, 31 Dec 2025 23:00:00 GMT", 0],
  ])("%j → %i", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
  it.each([null, "", "soon", "-5", "1.5"])("%j → undefined", (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe("redact", () => {
  it("removes every credential, longest first, and ignores trivially short ones", () => {
    expect(redact("token abcdef and abcdefgh and ab", ["abcdef", "abcdefgh", "ab"])).toBe(
      "token [redacted] and [redacted] and ab",
    );
  });
  it("caps reasons at 500 characters", () => {
    const out = redact("x".repeat(2_000), []);
    expect(out.length).toBe(500);
    expect(out.endsWith("…")).toBe(true);
  });
});

describe("joinUrl", () => {
  it.each([
    ["http://127.0.0.1:1234", "emails", "http://127.0.0.1:1234/emails"],
    ["http://127.0.0.1:1234/", "/emails", "http://127.0.0.1:1234/emails"],
    ["https://graph.facebook.com//", "v21.0/1/messages", "https://graph.facebook.com/v21.0/1/messages"],
  ])("%s + %s", (base, path, expected) => {
    expect(joinUrl(base, path)).toBe(expected);
  });
});

describe("unsupportedContent", () => {
  const contents: Record<MessageContent["kind"], MessageContent> = {
    template: {
      kind: "template",
      template: { name: "t", language: "en", variables: {}, placeholderStyle: "none", renderedBody: "b" },
    },
    text: textContent("x"),
    media: { kind: "media", media: { type: "image", url: "https://x.test/a.png" } },
    interactive: {
      kind: "interactive",
      interactive: { type: "button", body: "b", buttons: [{ id: "1", title: "t" }] },
    },
    email: emailContent("s", "h"),
  };
  const allowed: Record<Channel, Array<MessageContent["kind"]>> = {
    whatsapp: ["template", "text", "media", "interactive"],
    sms: ["template", "text", "media"],
    email: ["email", "template"],
  };
  for (const channel of ["whatsapp", "sms", "email"] as Channel[]) {
    for (const kind of Object.keys(contents) as Array<MessageContent["kind"]>) {
      const ok = allowed[channel].includes(kind);
      it(`${kind} over ${channel}: ${ok ? "allowed" : "unsupported_content"}`, () => {
        const result = unsupportedContent(channel, contents[kind]);
        if (ok) expect(result).toBeNull();
        else expect(result).toMatchObject({ ok: false, retryable: false, code: "unsupported_content" });
      });
    }
  }
});

describe("providerFetch", () => {
  it("defaults to a 15 s timeout", () => {
    expect(PROVIDER_TIMEOUT_MS).toBe(15_000);
  });

  it("times out even when a custom fetch ignores the abort signal", async () => {
    const never = () => new Promise<Response>(() => {});
    const started = Date.now();
    const result = await providerFetch(
      "Test",
      "http://127.0.0.1/x",
      {},
      { baseUrl: "", fetch: never, timeoutMs: 50 },
      [],
    );
    expect(result).toEqual(failure("timeout", "Test did not answer within 50 ms", true));
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("times out while the body is still streaming", async () => {
    const slowBody = async () =>
      new Response(new ReadableStream({ start() {} }), {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    const result = await providerFetch(
      "Test",
      "http://x",
      {},
      { baseUrl: "", fetch: slowBody, timeoutMs: 50 },
      [],
    );
    expect(result).toMatchObject({ ok: false, code: "timeout", retryable: true });
  });

  it("turns a thrown fetch into a retryable network_error without credentials", async () => {
    const boom = async () => {
      throw new TypeError("connect failed for https://user:s3cr3t-token@host");
    };
    const result = await providerFetch("Test", "http://x", {}, { baseUrl: "", fetch: boom }, [
      "s3cr3t-token",
    ]);
    expect(result).toEqual(
      failure("network_error", "Could not reach Test: connect failed for https://user:[redacted]@host", true),
    );
  });

  it("uses the configured fetch and hands back status, headers, text and parsed JSON", async () => {
    const seen: string[] = [];
    const fake = async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(`${init?.method} ${String(input)}`);
      return Response.json({ id: "x" }, { status: 202, headers: { "retry-after": "3" } });
    };
    const result = await providerFetch(
      "Test",
      "http://x/y",
      { method: "POST" },
      { baseUrl: "", fetch: fake },
      [],
    );
    expect(seen).toEqual(["POST http://x/y"]);
    expect(result).toMatchObject({ status: 202, json: { id: "x" }, text: '{"id":"x"}' });
    if ("headers" in result) expect(result.headers.get("retry-after")).toBe("3");
  });
});
