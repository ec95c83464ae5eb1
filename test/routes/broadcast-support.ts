import { call, json } from "../helpers";

let seq = 0;

/** POST /v1/broadcasts with a fresh idempotency key. */
export function broadcast(
  key: string,
  body: Record<string, unknown>,
  idempotencyKey = `bc-${Date.now()}-${seq++}`,
) {
  return call("POST", "/v1/broadcasts", { key, body, headers: { "idempotency-key": idempotencyKey } });
}

/** Creates contacts through the API; returns their ids in order. */
export async function createContacts(
  key: string,
  people: { name: string | null; phone?: string; email?: string; attributes?: Record<string, string> }[],
): Promise<string[]> {
  const ids: string[] = [];
  for (const person of people) {
    const addresses = [
      ...(person.phone
        ? [
            { channel: "sms", address: person.phone },
            { channel: "whatsapp", address: person.phone },
          ]
        : []),
      ...(person.email ? [{ channel: "email", address: person.email }] : []),
    ];
    const res = await call("POST", "/v1/contacts", {
      key,
      body: {
        ...(person.name ? { name: person.name } : {}),
        addresses,
        ...(person.attributes ? { attributes: person.attributes } : {}),
      },
    });
    if (res.status !== 201) throw new Error(`contact create failed: ${res.status} ${await res.text()}`);
    ids.push((await json(res)).id);
  }
  return ids;
}

/** Polls GET /v1/broadcasts/{id} until `predicate` holds (bounded: 20 s). */
export async function waitForBroadcast(
  key: string,
  id: string,
  predicate: (b: any) => boolean,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = await json(await call("GET", `/v1/broadcasts/${id}`, { key }));
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`broadcast ${id} never reached the expected state; last: ${JSON.stringify(last)}`);
}

/** `n` named contacts with distinct Brazilian mobile numbers (never the sandbox's magic …0001–…0004 endings). */
export function phones(n: number, base: number) {
  return Array.from({ length: n }, (_, i) => ({
    name: `Person ${base}-${i}`,
    phone: `+5511987${String(base).padStart(3, "0")}${String(i + 11).padStart(3, "0")}`,
  }));
}
