/**
 * Client of the fake webhook receiver and its DNS-over-HTTPS resolver (test/fakes/receiver.mjs), for tests
 * running inside workerd. Each test makes its own sink, so concurrent test files never see each other's
 * deliveries.
 *
 *   const receiver = fakeReceiver();
 *   const sink = await receiver.createSink();            // sink.url is the endpoint URL to register
 *   await receiver.script(sink.id, [{ status: 503 }]);   // next answer, then 200 again
 *   const [request] = await receiver.waitForRequests(sink.id, 1);
 */
import { env } from "cloudflare:workers";

export interface ReceiverAnswer {
  status: number;
  headers?: Record<string, string>;
  /** Sent as-is (objects as JSON). */
  body?: unknown;
  /** Wait this long before answering (capped at 20 s). */
  delayMs?: number;
  /** Only answer a request whose body contains this text (others skip past this response). */
  bodyIncludes?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The exact body bytes as received (UTF-8). */
  body: string;
  /** Date.now() in the receiver's process when the request arrived (same clock as the worker's). */
  receivedAt: number;
  /** What the receiver answered. */
  status: number;
}

function base(): string {
  const value = env.FAKE_RECEIVER_BASE;
  if (!value)
    throw new Error("FAKE_RECEIVER_BASE is not bound: is test/fakes/global-setup.ts in vitest.config.ts?");
  return value;
}

async function control<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base()}/__control/${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`fake receiver control ${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

export class FakeReceiverClient {
  async createSink(): Promise<{ id: string; url: string }> {
    const { id } = await control<{ id: string }>("POST", "sinks");
    return { id, url: `${base()}/sink/${id}` };
  }

  /** Answers the sink's next requests with `responses` in order, then with `fallback` (when given) for good. */
  async script(sinkId: string, responses: ReceiverAnswer[], fallback?: ReceiverAnswer): Promise<void> {
    await control("POST", "script", { sink: sinkId, responses, default: fallback });
  }

  /** Every request the sink received, oldest first. */
  async requests(sinkId: string): Promise<RecordedRequest[]> {
    return (await control<{ data: RecordedRequest[] }>("GET", `requests?sink=${sinkId}`)).data;
  }

  /** Polls (bounded) until the sink has received at least `count` requests; returns them all. */
  async waitForRequests(sinkId: string, count: number, timeoutMs = 15_000): Promise<RecordedRequest[]> {
    const deadline = Date.now() + timeoutMs;
    let seen: RecordedRequest[] = [];
    while (Date.now() < deadline) {
      seen = await this.requests(sinkId);
      if (seen.length >= count) return seen;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(
      `sink ${sinkId} got ${seen.length} of ${count} requests in ${timeoutMs} ms: ${JSON.stringify(seen.map((r) => r.status))}`,
    );
  }
}

export class FakeDnsClient {
  /** What the fake resolver answers for `name` from now on (unknown names answer NXDOMAIN). */
  async setRecords(name: string, records: { a?: string[]; aaaa?: string[] }): Promise<void> {
    await control("POST", "dns", { name, ...records });
  }

  /** How many DNS-over-HTTPS queries (A and AAAA each count) the fake resolver has had for `name`. */
  async queryCount(name: string): Promise<number> {
    return (await control<{ count: number }>("GET", `dns-queries?name=${encodeURIComponent(name)}`)).count;
  }
}

export const fakeReceiver = () => new FakeReceiverClient();
export const fakeDns = () => new FakeDnsClient();
