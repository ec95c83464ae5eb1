import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, expectError, fetchWorker, json, type SeededKey, seedKey, seedTenant, send } from "../helpers";
import { png } from "../routes/media-support";
import { count, described, documentOperations, fillPath, type Operation, sink, until } from "./support";

/**
 * Every operation that takes an object's id in its path, generated from the served OpenAPI document: a real
 * object of tenant A (test environment) called with tenant B's all-scope key, or with A's own live key,
 * answers 404 resource_not_found (never 200 or 403, never A's data), and changes nothing of A's. The same
 * call with A's test key then succeeds, so every 404 above was about the caller, not a bad fixture.
 */

const TO = "+5511987654321";
const CUSTOMER = "+5511987650000";
const ATTACKER = "attacker-was-here";
/** The number each tenant suppresses: its own customer's choice, never another tenant's. */
const SUPPRESSED = { "tenant-a": "+5511987651111", "tenant-b": "+5511987652222" } as const;

/** One of each kind of object a tenant owns, created through the API. */
interface Objects {
  apiKey: { id: string; secret: string };
  channel: string;
  template: string;
  message: string;
  endpoint: string;
  delivery: string;
  replay: string;
  event: string;
  contact: string;
  conversation: string;
  list: string;
  segment: string;
  suppression: string;
  media: string;
  contactImport: string;
  broadcast: string;
}

interface Owner {
  key: SeededKey;
  /** Written into the objects' names and descriptions: it must never appear in another caller's answer. */
  marker: string;
  objects: Objects;
}

/**
 * Which object each id route is about, by path parameter. An id route of the document missing here fails
 * the coverage test: add how to create its object before adding the route.
 */
const ID_ROUTES: Record<string, (o: Objects) => Record<string, string>> = {
  "/v1/api-keys/{id}": (o) => ({ id: o.apiKey.id }),
  "/v1/api-keys/{id}/rotate": (o) => ({ id: o.apiKey.id }),
  "/v1/channels/{id}": (o) => ({ id: o.channel }),
  "/v1/templates/{id}": (o) => ({ id: o.template }),
  "/v1/messages/{id}": (o) => ({ id: o.message }),
  "/v1/messages/{id}/cancel": (o) => ({ id: o.message }),
  "/v1/webhook-endpoints/{id}": (o) => ({ id: o.endpoint }),
  "/v1/webhook-endpoints/{id}/rotate-secret": (o) => ({ id: o.endpoint }),
  "/v1/webhook-endpoints/{id}/test": (o) => ({ id: o.endpoint }),
  "/v1/webhook-endpoints/{id}/deliveries": (o) => ({ id: o.endpoint }),
  "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}": (o) => ({ id: o.endpoint, delivery_id: o.delivery }),
  "/v1/webhook-endpoints/{id}/replay": (o) => ({ id: o.endpoint }),
  "/v1/webhook-endpoints/{id}/replays/{replay_id}": (o) => ({ id: o.endpoint, replay_id: o.replay }),
  "/v1/events/{id}": (o) => ({ id: o.event }),
  "/v1/events/{id}/replay": (o) => ({ id: o.event }),
  "/v1/contacts/{id}": (o) => ({ id: o.contact }),
  "/v1/conversations/{id}": (o) => ({ id: o.conversation }),
  "/v1/conversations/{id}/messages": (o) => ({ id: o.conversation }),
  "/v1/lists/{id}": (o) => ({ id: o.list }),
  "/v1/lists/{id}/contacts": (o) => ({ id: o.list }),
  "/v1/lists/{id}/contacts/{contact_id}": (o) => ({ id: o.list, contact_id: o.contact }),
  "/v1/segments/{id}": (o) => ({ id: o.segment }),
  "/v1/segments/{id}/contacts": (o) => ({ id: o.segment }),
  "/v1/suppressions/{id}": (o) => ({ id: o.suppression }),
  "/v1/media/{id}": (o) => ({ id: o.media }),
  "/v1/contact-imports/{id}": (o) => ({ id: o.contactImport }),
  "/v1/broadcasts/{id}": (o) => ({ id: o.broadcast }),
  "/v1/broadcasts/{id}/start": (o) => ({ id: o.broadcast }),
  "/v1/broadcasts/{id}/pause": (o) => ({ id: o.broadcast }),
  "/v1/broadcasts/{id}/resume": (o) => ({ id: o.broadcast }),
  "/v1/broadcasts/{id}/cancel": (o) => ({ id: o.broadcast }),
  "/v1/broadcasts/{id}/test": (o) => ({ id: o.broadcast }),
  "/v1/broadcasts/{id}/events": (o) => ({ id: o.broadcast }),
};

/** A body each operation accepts (a validation 400 would hide the 404), mutating where it can. */
const BODIES: Record<string, (o: Objects) => unknown> = {
  "POST /v1/api-keys/{id}/rotate": () => ({ overlap_seconds: 0 }),
  "PATCH /v1/channels/{id}": () => ({ name: ATTACKER }),
  "PATCH /v1/webhook-endpoints/{id}": () => ({ description: ATTACKER }),
  "POST /v1/webhook-endpoints/{id}/rotate-secret": () => ({ overlap_seconds: 0 }),
  "POST /v1/webhook-endpoints/{id}/replay": () => ({
    since: new Date(Date.now() - 60_000).toISOString(),
    only_failed: false,
  }),
  "POST /v1/events/{id}/replay": () => ({}),
  "PATCH /v1/contacts/{id}": () => ({ name: ATTACKER, attributes: { owner: ATTACKER } }),
  "PATCH /v1/lists/{id}": () => ({ name: ATTACKER, description: ATTACKER }),
  "POST /v1/lists/{id}/contacts": (o) => ({ contact_ids: [o.contact] }),
  "PATCH /v1/segments/{id}": () => ({ name: ATTACKER }),
  "POST /v1/broadcasts/{id}/test": (o) => ({ to: [TO], contact_id: o.contact }),
};

async function created<T = any>(res: Response, status = 201): Promise<T> {
  const { status: got, text } = await described(res);
  expect(got, text).toBe(status);
  return JSON.parse(text) as T;
}

async function createObjects(key: SeededKey, marker: string, suppressed: string): Promise<Objects> {
  const secret = key.secret;
  const hex = crypto.randomUUID().replaceAll("-", "");
  const { url } = await sink();
  const [apiKey, channel, template, message, endpoint, contact, inbound] = await Promise.all([
    call("POST", "/v1/api-keys", { key: secret, body: { name: marker, scopes: ["messages:read"] } }).then(
      (res) => created(res),
    ),
    call("POST", "/v1/channels", {
      key: secret,
      body: {
        type: "sms",
        name: marker,
        account_sid: `AC${hex}`,
        auth_token: `tok-${hex}`,
        from: "+14155550123",
      },
    }).then((res) => created(res)),
    call("POST", "/v1/templates", {
      key: secret,
      body: {
        name: "isolation_check",
        language: "en_US",
        category: "utility",
        body: `Hello {{1}} ${marker}`,
      },
    }).then((res) => created(res)),
    send(secret, {
      channel: "sms",
      to: TO,
      text: { body: marker },
      metadata: { owner: marker },
      send_at: new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 16),
      timezone: "UTC",
    }).then((res) => created(res, 202)),
    call("POST", "/v1/webhook-endpoints", {
      key: secret,
      body: { url, events: ["message.delivered"], description: marker },
    }).then((res) => created(res)),
    call("POST", "/v1/contacts", {
      key: secret,
      body: { name: marker, external_id: marker, addresses: [{ channel: "sms", address: CUSTOMER }] },
    }).then((res) => created(res)),
    call("POST", "/v1/sandbox/inbound", { key: secret, body: { from: CUSTOMER, text: marker } }).then((res) =>
      created(res),
    ),
  ]);
  expect(message.status).toBe("scheduled");
  const test = await created(
    await call("POST", `/v1/webhook-endpoints/${endpoint.id}/test`, { key: secret }),
    202,
  );
  const replay = await created(
    await call("POST", `/v1/webhook-endpoints/${endpoint.id}/replay`, {
      key: secret,
      body: { since: new Date(Date.now() - 60_000).toISOString() },
    }),
    202,
  );
  const [list, segment, suppression, media, contactImport] = await Promise.all([
    call("POST", "/v1/lists", { key: secret, body: { name: marker, description: marker } }).then((res) =>
      created(res),
    ),
    call("POST", "/v1/segments", {
      key: secret,
      body: { name: marker, filter: { all: [{ field: "attributes.owner", op: "eq", value: marker }] } },
    }).then((res) => created(res)),
    call("POST", "/v1/suppressions", {
      key: secret,
      body: { channel: "sms", address: suppressed, note: marker },
    }).then((res) => created(res)),
    fetchWorker(
      new Request(`http://localhost/v1/media?filename=${marker}.png`, {
        method: "POST",
        headers: { authorization: `Bearer ${secret}`, "content-type": "image/png" },
        body: png(marker),
      }),
    ).then((res) => created(res)),
    fetchWorker(
      new Request("http://localhost/v1/contact-imports", {
        method: "POST",
        headers: { authorization: `Bearer ${secret}`, "content-type": "text/csv" },
        body: `external_id,name\n${marker}-import,${marker}\n`,
      }),
    ).then((res) => created(res, 202)),
  ]);
  await created(
    await call("POST", `/v1/lists/${list.id}/contacts`, { key: secret, body: { contact_ids: [contact.id] } }),
    200,
  );
  // A draft: the owner's own walk through start, pause, resume, cancel, test and events must succeed.
  const broadcast = await created(
    await call("POST", "/v1/broadcasts", {
      key: secret,
      headers: { "idempotency-key": `bc-${hex}` },
      body: {
        name: marker,
        channel: "sms",
        text: { body: `${marker} {{contact.name|there}}` },
        audience: { list_id: list.id },
        start: false,
      },
    }),
  );
  return {
    apiKey: { id: apiKey.id, secret: apiKey.secret },
    channel: channel.id,
    template: template.id,
    message: message.id,
    endpoint: endpoint.id,
    delivery: test.delivery.id,
    replay: replay.id,
    event: test.event.id,
    contact: contact.id,
    conversation: inbound.conversation_id,
    list: list.id,
    segment: segment.id,
    suppression: suppression.id,
    media: media.id,
    contactImport: contactImport.id,
    broadcast: broadcast.id,
  };
}

async function owner(name: keyof typeof SUPPRESSED): Promise<Owner> {
  const key = await seedTenant({ name });
  const marker = `${name}-${crypto.randomUUID()}`;
  return { key, marker, objects: await createObjects(key, marker, SUPPRESSED[name]) };
}

/** Everything of `victim` that must not show up in an answer to another caller (ids they sent excepted). */
function secretsOf(victim: Owner, sent: string[]): string[] {
  const { apiKey, ...ids } = victim.objects;
  return [victim.marker, victim.key.tenantId, apiKey.id, apiKey.secret, ...Object.values(ids)].filter(
    (value) => !sent.includes(value),
  );
}

/** Bodies name the victim's own objects (a contact to add to a list): the path's id must still be refused. */
function request(op: Operation, key: string, params: Record<string, string>, victim: Objects) {
  const body = BODIES[op.label]?.(victim);
  return call(op.method, fillPath(op.path, params), { key, body });
}

/** The call must be a 404 resource_not_found that says nothing of the victim. */
async function expectForeign(res: Response, victim: Owner, sent: Record<string, string>, label: string) {
  const { status, text } = await described(res);
  expect(status, `${label}: ${text}`).toBe(404);
  expect(JSON.parse(text).error.code, label).toBe("resource_not_found");
  for (const secret of secretsOf(victim, Object.values(sent))) expect(text, label).not.toContain(secret);
}

describe("promise: a foreign id is a 404, never another tenant's or environment's object", () => {
  let operations: Operation[];
  let idOperations: Operation[];
  let a: Owner;
  let b: Owner;
  let aLive: SeededKey;

  beforeAll(async () => {
    operations = await documentOperations();
    idOperations = operations.filter((op) => op.pathParams.length > 0 && op.security.length > 0);
    [a, b] = await Promise.all([owner("tenant-a"), owner("tenant-b")]);
    aLive = await seedKey(a.key.tenantId, { environment: "live" });
  }, 60_000);

  // Let the deliveries these calls started finish, so none is cut off when the file's runtime stops.
  afterAll(async () => {
    const pending = () =>
      count(
        "SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint_id IN (?, ?) AND status = 'pending'",
        a.objects.endpoint,
        b.objects.endpoint,
      );
    await until(pending, (n) => n === 0, "webhook deliveries settled", 100).catch(() => undefined);
  });

  it("knows how to make an object for every id route of the document, and a valid body where one is taken", () => {
    const idPaths = [...new Set(idOperations.map((op) => op.path))].sort();
    expect(idPaths.length).toBeGreaterThan(10);
    expect(Object.keys(ID_ROUTES).sort(), "ID_ROUTES must cover exactly the id routes").toEqual(idPaths);
    const withBody = idOperations.filter((op) => op.hasBody).map((op) => op.label);
    expect(Object.keys(BODIES).sort(), "BODIES must cover every id operation with a body").toEqual(
      withBody.sort(),
    );
    // Id routes without a key (provider webhooks) are guarded by signatures: inbound-signatures.test.ts.
    const publicIdRoutes = operations.filter((op) => op.pathParams.length > 0 && op.security.length === 0);
    // Media links are guarded by their signature (test/security/media.test.ts); tracked links by an
    // unguessable code that only redirects (test/security/links.test.ts).
    expect(
      publicIdRoutes.every(
        (op) => op.path.startsWith("/inbound/") || op.path.startsWith("/media/") || op.path.startsWith("/l/"),
      ),
    ).toBe(true);
  });

  it("answers 404 to another tenant's key and to the same tenant's other environment, changing nothing", async () => {
    const before = await stateOf(a);
    let attempts = 0;
    for (const op of idOperations) {
      const route = ID_ROUTES[op.path];
      if (!route) throw new Error(`no fixture for ${op.path}`);
      const victimIds = route(a.objects);
      // Another tenant, and the same tenant's live environment, with every scope.
      for (const [who, key] of [
        ["tenant B", b.key.secret],
        ["A's live key", aLive.secret],
      ] as const) {
        await expectForeign(
          await request(op, key, victimIds, a.objects),
          a,
          victimIds,
          `${op.label} as ${who}`,
        );
        attempts++;
      }
      // A nested id: B's own parent object with A's child id.
      if (op.pathParams.length > 1) {
        const own = route(b.objects);
        for (const param of op.pathParams.slice(1)) {
          const mixed = { ...own, [param.name]: victimIds[param.name] ?? "" };
          await expectForeign(
            await request(op, b.key.secret, mixed, a.objects),
            a,
            mixed,
            `${op.label} as tenant B with A's ${param.name}`,
          );
          attempts++;
        }
      }
    }
    expect(attempts).toBeGreaterThanOrEqual(idOperations.length * 2);
    expect(await stateOf(a)).toEqual(before);
  });

  it("ids in bodies and queries: another tenant's channel, endpoint, message or contact is not found", async () => {
    const deliveriesToA = () =>
      count("SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint_id = ?", a.objects.endpoint);
    const before = await deliveriesToA();
    await expectError(
      await call("POST", `/v1/events/${b.objects.event}/replay`, {
        key: b.key.secret,
        body: { endpoint_id: a.objects.endpoint },
      }),
      404,
      "resource_not_found",
    );
    expect(await deliveriesToA()).toBe(before);
    await expectError(
      await send(b.key.secret, { channel: "sms", to: TO, from: a.objects.channel, text: { body: ATTACKER } }),
      404,
      "resource_not_found",
    );
    // The same ids work for their owner, so the 404s above were about the caller.
    const ownReplay = await call("POST", `/v1/events/${a.objects.event}/replay`, {
      key: a.key.secret,
      body: { endpoint_id: a.objects.endpoint },
    });
    expect(ownReplay.status, await ownReplay.clone().text()).toBe(202);
    const ownSend = await send(a.key.secret, {
      channel: "sms",
      to: TO,
      from: a.objects.channel,
      text: { body: "mine" },
    });
    expect(ownSend.status, await ownSend.clone().text()).toBe(202);
    await expectError(
      await call("POST", "/v1/sandbox/inbound", {
        key: b.key.secret,
        body: { from: CUSTOMER, text: ATTACKER, reply_to_message_id: a.objects.message },
      }),
      404,
      "resource_not_found",
    );
    // Audiences: A's contact into B's list, A's media in B's send, A's list in B's segment filter.
    const bList = b.objects.list;
    await expectError(
      await call("POST", `/v1/lists/${bList}/contacts`, {
        key: b.key.secret,
        body: { contact_ids: [a.objects.contact] },
      }),
      404,
      "resource_not_found",
    );
    await expectError(
      await send(b.key.secret, {
        channel: "whatsapp",
        to: TO,
        media: { type: "image", media_id: a.objects.media },
      }),
      404,
      "resource_not_found",
    );
    const preview = await json(
      await call("POST", "/v1/segments/preview", {
        key: b.key.secret,
        body: { filter: { all: [{ field: "list_id", op: "in", value: [a.objects.list] }] } },
      }),
    );
    expect(preview.contact_count).toBe(0);
    // A's suppression does not stop B sending to the same address (it is A's customer's choice, per tenant).
    const bSend = await send(b.key.secret, {
      channel: "sms",
      to: SUPPRESSED["tenant-a"],
      text: { body: "hi" },
    });
    expect(bSend.status, await bSend.clone().text()).toBe(202);
    for (const query of [
      `/v1/conversations?contact_id=${a.objects.contact}`,
      `/v1/events?message_id=${a.objects.message}`,
      `/v1/messages?from=${a.objects.channel}`,
    ]) {
      const page = await json(await call("GET", query, { key: b.key.secret }));
      expect(page.data, query).toEqual([]);
    }
  });

  it("the same calls with the owner's key succeed (the fixtures are real), deletes last", async () => {
    const ordered = [...idOperations].sort(
      // Deletes last, nested ones first (deleting a list or contact also ends its memberships).
      (x, y) =>
        Number(x.method === "DELETE") - Number(y.method === "DELETE") ||
        y.pathParams.length - x.pathParams.length,
    );
    for (const op of ordered) {
      const route = ID_ROUTES[op.path];
      if (!route) throw new Error(`no fixture for ${op.path}`);
      const { status, text } = await described(await request(op, a.key.secret, route(a.objects), a.objects));
      expect([200, 201, 202, 204], `${op.label} as its owner: ${text}`).toContain(status);
    }
  });

  it("lists show neither another tenant's nor another environment's objects", async () => {
    const lists = operations.filter(
      (op) => op.method === "GET" && op.pathParams.length === 0 && op.security.length > 0,
    );
    expect(lists.length).toBeGreaterThan(5);
    for (const op of lists) {
      for (const key of [b.key.secret, aLive.secret]) {
        const { status, text } = await described(await call("GET", op.path, { key }));
        expect(status, `${op.label}: ${text}`).toBe(200);
        for (const secret of secretsOf(a, [])) expect(text, op.label).not.toContain(secret);
      }
    }
  });
});

/** What the attacks above could have changed of the victim's objects, read with the victim's own key. */
async function stateOf(victim: Owner) {
  const key = victim.key.secret;
  const o = victim.objects;
  const get = async (path: string) => {
    const res = await call("GET", path, { key });
    return res.status === 200 ? json(res) : { status: res.status };
  };
  const [apiKey, channel, template, message, endpoint, contact] = await Promise.all([
    get(`/v1/api-keys/${o.apiKey.id}`),
    get(`/v1/channels/${o.channel}`),
    get(`/v1/templates/${o.template}`),
    get(`/v1/messages/${o.message}`),
    get(`/v1/webhook-endpoints/${o.endpoint}`),
    get(`/v1/contacts/${o.contact}`),
  ]);
  const [list, listMembers, segment, suppression, media] = await Promise.all([
    get(`/v1/lists/${o.list}`),
    get(`/v1/lists/${o.list}/contacts`),
    get(`/v1/segments/${o.segment}`),
    get(`/v1/suppressions/${o.suppression}`),
    get(`/v1/media/${o.media}`),
  ]);
  const broadcast = await get(`/v1/broadcasts/${o.broadcast}`);
  return {
    apiKey: [apiKey.status, apiKey.name, apiKey.rotated_at, apiKey.revoked_at],
    // The rotatable secret still opens the door.
    apiKeySecretWorks: (await call("GET", "/v1/balance", { key: o.apiKey.secret })).status,
    channel: [channel.id, channel.name],
    template: template.id,
    message: message.status,
    endpoint: [endpoint.description, endpoint.updated_at, endpoint.enabled],
    contact: [contact.name, contact.updated_at, contact.attributes],
    list: [list.name, list.description, list.updated_at, list.contact_count],
    listMembers: listMembers.data?.map((c: { id: string }) => c.id),
    segment: [segment.name, segment.updated_at, segment.filter],
    suppression: [suppression.id, suppression.address],
    media: [media.id, media.status, media.sha256],
    broadcast: [broadcast.id, broadcast.status, broadcast.name],
    testEvents: await count(
      "SELECT count(*) AS n FROM events WHERE tenant_id = ? AND type = 'webhook.test'",
      victim.key.tenantId,
    ),
    replays: await count("SELECT count(*) AS n FROM webhook_replays WHERE endpoint_id = ?", o.endpoint),
    eventDeliveries: await count("SELECT count(*) AS n FROM webhook_deliveries WHERE event_id = ?", o.event),
  };
}
