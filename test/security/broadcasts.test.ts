/**
 * Attacks on broadcasts: audiences naming another tenant's or environment's segments, lists and contacts;
 * oversized and malformed bodies; merge fields used to inject or to reach the prototype; template variables
 * left empty; idempotency abuse; the SSE stream's Last-Event-ID; state changes out of order; test sends;
 * weaker keys; suppressed recipients named directly. Each defence is checked by what is (not) stored or sent.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { approvedTemplate, call, expectError, json, type SeededKey, seedKey, seedTenant } from "../helpers";
import { broadcast, createContacts, phones, waitForBroadcast } from "../routes/broadcast-support";

const count = async (sql: string, ...binds: unknown[]) =>
  Number(
    (
      await env.DB.prepare(sql)
        .bind(...binds)
        .first<{ n: number }>()
    )?.n ?? 0,
  );

const broadcastsOf = (tenantId: string) =>
  count("SELECT count(*) AS n FROM broadcasts WHERE tenant_id = ?", tenantId);

/** Non-test messages of a broadcast, one row per contact with how many it got (D1, not the API). */
async function messagesPerContact(broadcastId: string) {
  const rows = await env.DB.prepare(
    "SELECT contact_id, count(*) AS n FROM messages WHERE broadcast_id = ? AND test = 0 GROUP BY contact_id",
  )
    .bind(broadcastId)
    .all<{ contact_id: string; n: number }>();
  return rows.results;
}

const smsTo = (ids: string[], extra: Record<string, unknown> = {}) => ({
  name: "Attack",
  channel: "sms",
  text: { body: "Hi {{contact.name|there}}" },
  audience: { contact_ids: ids },
  rate_limit_per_minute: 60000,
  ...extra,
});

async function contactWith(key: string, body: Record<string, unknown>): Promise<string> {
  const res = await call("POST", "/v1/contacts", { key, body });
  expect(res.status).toBe(201);
  return (await json(res)).id;
}

/** Reads an SSE response to its end, bounded: throws if the stream is still open after `timeoutMs`. */
async function readToEnd(res: Response, timeoutMs = 10_000): Promise<string> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const left = deadline - Date.now();
    const timeout = new Promise<"timeout">((resolve) =>
      setTimeout(() => resolve("timeout"), Math.max(0, left)),
    );
    const next = await Promise.race([reader.read(), timeout]);
    if (next === "timeout") {
      await reader.cancel();
      throw new Error(`stream still open after ${timeoutMs} ms; read so far: ${text.slice(0, 500)}`);
    }
    if (next.done) return text;
    text += decoder.decode(next.value, { stream: true });
  }
}

/** SSE frames as {id, event, data}. */
function framesOf(text: string) {
  return text
    .split("\n\n")
    .filter((block) => block.includes("event:"))
    .map((block) => {
      const field = (name: string) =>
        block
          .split("\n")
          .find((line) => line.startsWith(`${name}: `))
          ?.slice(name.length + 2);
      return { id: field("id"), event: field("event"), data: JSON.parse(field("data") ?? "null") };
    });
}

describe("broadcasts: audiences stay inside the caller's tenant and environment", () => {
  it("a foreign segment, list or contact id is a 404 (also in the dry run) and nothing is stored", async () => {
    const owner = await seedTenant();
    const stranger = await seedTenant();
    const ownLive = await seedKey(owner.tenantId, { environment: "live" });
    const [mine] = await createContacts(owner.secret, phones(1, 100));
    const [theirs] = await createContacts(stranger.secret, phones(1, 101));
    const [live] = await createContacts(ownLive.secret, phones(1, 102));
    const filter = { all: [{ field: "channel", op: "has", value: "sms" }] };
    const foreign: { list: string; segment: string }[] = [];
    for (const other of [stranger, ownLive]) {
      const list = await json(
        await call("POST", "/v1/lists", { key: other.secret, body: { name: "theirs" } }),
      );
      const segment = await json(
        await call("POST", "/v1/segments", { key: other.secret, body: { name: "theirs", filter } }),
      );
      expect(list.id).toMatch(/^lst_/);
      expect(segment.id).toMatch(/^seg_/);
      foreign.push({ list: list.id, segment: segment.id });
    }

    for (const { list, segment } of foreign) {
      for (const [audience, path] of [
        [{ segment_id: segment }, "audience.segment_id"],
        [{ list_id: list }, "audience.list_id"],
      ] as const) {
        for (const dryRun of [false, true]) {
          const error = await expectError(
            await broadcast(owner.secret, { ...smsTo([]), audience, dry_run: dryRun }),
            404,
            "resource_not_found",
          );
          expect(error.details).toEqual([{ path, message: expect.any(String) }]);
        }
        // The preview route would otherwise tell the size of someone else's audience.
        await expectError(
          await call("POST", "/v1/broadcasts/preview", {
            key: owner.secret,
            body: { ...smsTo([]), audience },
          }),
          404,
          "resource_not_found",
        );
      }
    }
    // Own and foreign ids mixed: the foreign index is named; the tenant's live contact is foreign to a test key.
    for (const [ids, index] of [
      [[mine, theirs], 1],
      [[mine, mine, live], 2],
      [[live], 0],
    ] as const) {
      const error = await expectError(
        await broadcast(owner.secret, smsTo([...ids] as string[])),
        404,
        "resource_not_found",
      );
      expect(error.details).toEqual([
        { path: `audience.contact_ids[${index}]`, message: expect.any(String) },
      ]);
      expect(error.message).not.toContain(mine as string);
    }
    expect(await broadcastsOf(owner.tenantId)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM messages WHERE tenant_id = ?", owner.tenantId)).toBe(0);
  });

  it("a segment filter snapshots only the caller's contacts, though other tenants' contacts match it", async () => {
    const owner = await seedTenant();
    const stranger = await seedTenant();
    const ownLive = await seedKey(owner.tenantId, { environment: "live" });
    const attributes = { cohort: "blue" };
    const mine = await createContacts(
      owner.secret,
      phones(2, 110).map((p) => ({ ...p, attributes })),
    );
    await createContacts(
      owner.secret,
      phones(1, 111).map((p) => ({ ...p, attributes: { cohort: "red" } })),
    );
    await createContacts(
      stranger.secret,
      phones(3, 112).map((p) => ({ ...p, attributes })),
    );
    await createContacts(
      ownLive.secret,
      phones(2, 113).map((p) => ({ ...p, attributes })),
    );
    const segment = await json(
      await call("POST", "/v1/segments", {
        key: owner.secret,
        body: { name: "blue", filter: { all: [{ field: "attributes.cohort", op: "eq", value: "blue" }] } },
      }),
    );
    const body = { ...smsTo([]), audience: { segment_id: segment.id } };
    const preview = await json(await call("POST", "/v1/broadcasts/preview", { key: owner.secret, body }));
    expect(preview).toMatchObject({ recipients: 2, eligible: 2 });

    const created = await broadcast(owner.secret, body);
    expect(created.status).toBe(201);
    const bc = await json(created);
    const done = await waitForBroadcast(owner.secret, bc.id, (b) => b.status === "completed");
    expect(done.counts).toMatchObject({ total: 2, sent: 2, skipped: 0 });
    const snapshot = await env.DB.prepare(
      "SELECT contact_id FROM broadcast_recipients WHERE broadcast_id = ?",
    )
      .bind(bc.id)
      .all<{ contact_id: string }>();
    expect(snapshot.results.map((r) => r.contact_id).sort()).toEqual([...mine].sort());
    const per = await messagesPerContact(bc.id);
    expect(per.map((r) => r.contact_id).sort()).toEqual([...mine].sort());
    expect(await count("SELECT count(*) AS n FROM messages WHERE tenant_id = ?", stranger.tenantId)).toBe(0);
  });
});

describe("broadcasts: sizes and shapes are refused with a 400, never a 5xx, and nothing is stored", () => {
  it("every malformed body answers 400 validation_error naming the field", async () => {
    const owner = await seedTenant();
    const ids = await createContacts(owner.secret, phones(1, 120));
    const base = smsTo(ids);
    const past = new Date(Date.now() - 10 * 60_000).toISOString();
    const cases: [string, Record<string, unknown>, string | null][] = [
      [
        "1,001 contact ids",
        { ...base, audience: { contact_ids: Array.from({ length: 1001 }, (_, i) => `con_${i}`) } },
        "audience.contact_ids",
      ],
      ["rate 0", { ...base, rate_limit_per_minute: 0 }, "rate_limit_per_minute"],
      ["rate 60001", { ...base, rate_limit_per_minute: 60001 }, "rate_limit_per_minute"],
      ["rate 1.5", { ...base, rate_limit_per_minute: 1.5 }, "rate_limit_per_minute"],
      ["rate as a string", { ...base, rate_limit_per_minute: "6000" }, "rate_limit_per_minute"],
      ["quiet start == end", { ...base, quiet_hours: { start: "21:00", end: "21:00" } }, "quiet_hours.end"],
      ["quiet 25:00", { ...base, quiet_hours: { start: "25:00", end: "08:00" } }, "quiet_hours.start"],
      ["quiet 9:00", { ...base, quiet_hours: { start: "21:00", end: "9:00" } }, "quiet_hours.end"],
      ["quiet hours extra key", { ...base, quiet_hours: { start: "21:00", end: "08:00", tz: "UTC" } }, null],
      ["schedule_at in the past", { ...base, schedule_at: past }, "schedule_at"],
      ["schedule_at without offset", { ...base, schedule_at: "2030-01-01T09:00:00" }, "schedule_at"],
      ["segment and list", { ...base, audience: { segment_id: "seg_a", list_id: "lst_b" } }, "audience"],
      ["empty audience", { ...base, audience: {} }, "audience"],
      ["audience extra key", { ...base, audience: { contact_ids: ids, tenant_id: "ten_x" } }, null],
      ["no content", { ...base, text: undefined }, null],
      ["two contents", { ...base, email: { subject: "s", text: "t" } }, null],
      ["unknown field", { ...base, tenant_id: "ten_someone_else" }, null],
      ["name of 10,000 chars", { ...base, name: "n".repeat(10_000) }, "name"],
      ["text of 4,097 chars", { ...base, text: { body: "x".repeat(4097) } }, "text.body"],
    ];
    for (const [what, body, path] of cases) {
      const res = await broadcast(owner.secret, body);
      if (res.status !== 400)
        throw new Error(`${what}: expected 400, got ${res.status}: ${await res.text()}`);
      const error = await expectError(res, 400, "validation_error");
      if (path) {
        expect(
          error.details.map((d: { path: string }) => d.path),
          what,
        ).toContain(path);
      }
    }
    expect(await broadcastsOf(owner.tenantId)).toBe(0);
    // The same body, valid, is accepted: the cases above failed for their one defect.
    expect((await broadcast(owner.secret, { ...base, start: false })).status).toBe(201);
  });
});

describe("broadcasts: merge fields", () => {
  it("a value holding a merge field is inserted literally, and prototype keys render as missing", async () => {
    const owner = await seedTenant();
    const [phone] = phones(1, 130);
    const injector = await contactWith(owner.secret, {
      name: "{{contact.external_id}}",
      external_id: "sk_live_secretish_4242",
      addresses: [{ channel: "sms", address: phone?.phone }],
    });
    const text =
      "Hi {{contact.name}} [{{contact.attributes.__proto__}}] [{{contact.attributes.constructor|none}}] " +
      "[{{contact.attributes.toString}}]";
    const created = await broadcast(owner.secret, {
      ...smsTo([injector]),
      text: { body: text },
    });
    expect(created.status).toBe(201);
    const bc = await json(created);
    await waitForBroadcast(owner.secret, bc.id, (b) => b.status === "completed");
    const msgs = await json(await call("GET", `/v1/messages?broadcast_id=${bc.id}`, { key: owner.secret }));
    expect(msgs.data).toHaveLength(1);
    const body = msgs.data[0].content.text.body as string;
    expect(body).toBe("Hi {{contact.external_id}} [] [none] []");
    expect(body).not.toContain("secretish");
    expect(body).not.toContain("function");
    expect(body).not.toContain("object");
  });

  it("an unknown merge field is a 400 naming where it is, in any string of the content", async () => {
    const owner = await seedTenant();
    const ids = await createContacts(owner.secret, [{ name: "Ana", email: "ana@example.com" }]);
    const error = await expectError(
      await broadcast(owner.secret, {
        name: "x",
        channel: "email",
        email: { subject: "Hello {{contact.phone}}", text: "body" },
        audience: { contact_ids: ids },
      }),
      400,
      "validation_error",
    );
    expect(error.details[0].path).toBe("email.subject");
    expect(await broadcastsOf(owner.tenantId)).toBe(0);
  });
});

describe("broadcasts: template variables are filled for every recipient", () => {
  it("a required merge field some recipient lacks is 422 and stores nothing; with a default it is 201", async () => {
    const owner = await seedTenant();
    const template = await approvedTemplate(owner.secret, "plan_notice_attack", "Hi {{1}}, welcome.");
    const [withPlan, withoutPlan] = phones(2, 140);
    const ids = await createContacts(owner.secret, [
      { ...(withPlan as { name: string; phone: string }), attributes: { plan: "pro" } },
      withoutPlan as { name: string; phone: string },
    ]);
    const body = (variable: string, extra: Record<string, unknown> = {}) => ({
      name: "Plans",
      channel: "whatsapp",
      template: { name: template.name, language: "en_US", variables: { "1": variable } },
      audience: { contact_ids: ids },
      rate_limit_per_minute: 60000,
      ...extra,
    });
    for (const dryRun of [false, true]) {
      const error = await expectError(
        await broadcast(owner.secret, body("{{contact.attributes.plan}}", { dry_run: dryRun })),
        422,
        "template_variables_invalid",
      );
      expect(error.message).toContain("1 recipient");
    }
    expect(await broadcastsOf(owner.tenantId)).toBe(0);

    const created = await broadcast(owner.secret, body("{{contact.attributes.plan|free}}"));
    expect(created.status).toBe(201);
    const bc = await json(created);
    await waitForBroadcast(owner.secret, bc.id, (b) => b.status === "completed");
    const msgs = await json(await call("GET", `/v1/messages?broadcast_id=${bc.id}`, { key: owner.secret }));
    const byContact = Object.fromEntries(
      msgs.data.map((m: any) => [m.contact_id, m.content.template.variables["1"]]),
    );
    expect(byContact).toEqual({ [ids[0] as string]: "pro", [ids[1] as string]: "free" });
  });

  // A blank (whitespace-only) value renders as missing (merge-fields.ts contactValue trims), so it must also
  // count as missing when the create checks that every recipient fills a required template variable.
  it("a whitespace-only attribute counts as missing for a required template variable", async () => {
    const owner = await seedTenant();
    const template = await approvedTemplate(owner.secret, "blank_plan_attack", "Hi {{1}}, welcome.");
    const ids = await createContacts(
      owner.secret,
      phones(2, 141).map((p, i) => ({ ...p, attributes: { plan: i === 0 ? "pro" : "   " } })),
    );
    await expectError(
      await broadcast(owner.secret, {
        name: "Blank",
        channel: "whatsapp",
        template: {
          name: template.name,
          language: "en_US",
          variables: { "1": "{{contact.attributes.plan}}" },
        },
        audience: { contact_ids: ids },
        start: false,
      }),
      422,
      "template_variables_invalid",
    );
  });
});

describe("broadcasts: idempotency", () => {
  it("the key is mandatory, a replay makes no second broadcast, another body under the same key is 422", async () => {
    const owner = await seedTenant();
    const ids = await createContacts(owner.secret, phones(2, 150));
    const body = smsTo(ids);
    await expectError(
      await call("POST", "/v1/broadcasts", { key: owner.secret, body }),
      400,
      "idempotency_key_required",
    );
    expect(await broadcastsOf(owner.tenantId)).toBe(0);

    const first = await broadcast(owner.secret, body, "attack-replay-1");
    expect(first.status).toBe(201);
    const created = await json(first);
    const second = await broadcast(owner.secret, body, "attack-replay-1");
    expect(second.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect((await json(second)).id).toBe(created.id);
    await expectError(
      await broadcast(owner.secret, { ...body, name: "Other" }, "attack-replay-1"),
      422,
      "idempotency_key_mismatch",
    );
    expect(await broadcastsOf(owner.tenantId)).toBe(1);
    await waitForBroadcast(owner.secret, created.id, (b) => b.status === "completed");
    const per = await messagesPerContact(created.id);
    expect(per).toHaveLength(2);
    expect(per.every((r) => r.n === 1)).toBe(true);
  });
});

describe("broadcasts: hostile audiences and contact data", () => {
  it("a contact id named twice in contact_ids gets one message", async () => {
    const owner = await seedTenant();
    const [a, b] = await createContacts(owner.secret, phones(2, 155));
    const bc = await json(await broadcast(owner.secret, smsTo([a, b, a, a] as string[])));
    const done = await waitForBroadcast(owner.secret, bc.id, (x) => x.status === "completed");
    expect(done.counts).toMatchObject({ total: 2, sent: 2 });
    const per = await messagesPerContact(bc.id);
    expect(per.map((r) => [r.contact_id, r.n]).sort()).toEqual(
      [
        [a, 1],
        [b, 1],
      ].sort(),
    );
  });

  it("a bogus timezone attribute under quiet hours falls back to the number's country and sends", async () => {
    const owner = await seedTenant();
    const people = phones(3, 156);
    const ids = await createContacts(
      owner.secret,
      people.map((p, i) => ({
        ...p,
        attributes: { timezone: ["Mars/Olympus", "../../etc/passwd", "  "][i] as string },
      })),
    );
    // A quiet window two to three hours from now in São Paulo (where +55 11 numbers are): nobody is held.
    const hour = Number(
      new Intl.DateTimeFormat("en-US", {
        timeZone: "America/Sao_Paulo",
        hour: "numeric",
        hourCycle: "h23",
      }).format(new Date()),
    );
    const clock = (h: number) => `${String(h % 24).padStart(2, "0")}:00`;
    const created = await broadcast(
      owner.secret,
      smsTo(ids, { quiet_hours: { start: clock(hour + 2), end: clock(hour + 3) } }),
    );
    expect(created.status).toBe(201);
    const bc = await json(created);
    const done = await waitForBroadcast(owner.secret, bc.id, (x) => x.status === "completed");
    expect(done.counts).toMatchObject({ total: 3, sent: 3, queued: 0, failed: 0 });
  });
});

describe("broadcasts: the event stream", () => {
  it("a bad Last-Event-ID is 400 and a foreign id a JSON 404, not a stream", async () => {
    const owner = await seedTenant();
    const stranger = await seedTenant();
    const ids = await createContacts(owner.secret, phones(1, 160));
    const bc = await json(await broadcast(owner.secret, smsTo(ids, { start: false })));
    for (const last of ["abc", "-1", "x".repeat(40)]) {
      const res = await call("GET", `/v1/broadcasts/${bc.id}/events`, {
        key: owner.secret,
        headers: { "last-event-id": last },
      });
      expect(res.headers.get("content-type")).not.toContain("text/event-stream");
      await expectError(res, 400, "validation_error");
    }
    const foreign = await call("GET", `/v1/broadcasts/${bc.id}/events`, { key: stranger.secret });
    expect(foreign.headers.get("content-type")).toContain("application/json");
    await expectError(foreign, 404, "resource_not_found");
  });

  it("a finished broadcast's stream ends with `completed` and closes; Last-Event-ID skips what was seen", async () => {
    const owner = await seedTenant();
    const ids = await createContacts(owner.secret, phones(2, 161));
    const bc = await json(await broadcast(owner.secret, smsTo(ids)));
    await waitForBroadcast(owner.secret, bc.id, (b) => b.status === "completed");

    const res = await call("GET", `/v1/broadcasts/${bc.id}/events`, { key: owner.secret });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const frames = framesOf(await readToEnd(res));
    expect(frames.at(-1)?.event).toBe("completed");
    expect(frames.at(-1)?.data).toMatchObject({ type: "broadcast.completed" });
    const started = frames.find((f) => f.data?.type === "broadcast.started");
    expect(started?.id).toMatch(/^\d+$/);

    const again = await call("GET", `/v1/broadcasts/${bc.id}/events`, {
      key: owner.secret,
      headers: { "last-event-id": started?.id as string },
    });
    const replay = framesOf(await readToEnd(again));
    expect(replay.map((f) => f.data?.type)).not.toContain("broadcast.started");
    expect(replay.at(-1)?.event).toBe("completed");
  });
});

describe("broadcasts: state changes out of order are refused and change nothing", () => {
  it("resume or cancel a completed one, start a canceled one, pause a draft: 409 each", async () => {
    const owner = await seedTenant();
    const ids = await createContacts(owner.secret, phones(1, 170));
    const completed = await json(await broadcast(owner.secret, smsTo(ids)));
    await waitForBroadcast(owner.secret, completed.id, (b) => b.status === "completed");
    const canceled = await json(await broadcast(owner.secret, smsTo(ids, { start: false })));
    expect((await call("POST", `/v1/broadcasts/${canceled.id}/cancel`, { key: owner.secret })).status).toBe(
      200,
    );
    const draft = await json(await broadcast(owner.secret, smsTo(ids, { start: false })));

    const snapshot = async () => {
      const out: Record<string, unknown> = {};
      for (const id of [completed.id, canceled.id, draft.id]) {
        const b = await json(await call("GET", `/v1/broadcasts/${id}`, { key: owner.secret }));
        const events = await count("SELECT count(*) AS n FROM events WHERE subject_id = ?", id);
        out[id] = { status: b.status, counts: b.counts, completed_at: b.completed_at, events };
      }
      out.messages = await count("SELECT count(*) AS n FROM messages WHERE tenant_id = ?", owner.tenantId);
      return out;
    };
    const before = await snapshot();
    for (const [id, action] of [
      [completed.id, "resume"],
      [completed.id, "cancel"],
      [completed.id, "start"],
      [completed.id, "pause"],
      [canceled.id, "start"],
      [canceled.id, "resume"],
      [canceled.id, "pause"],
      [draft.id, "pause"],
      [draft.id, "resume"],
    ]) {
      const error = await expectError(
        await call("POST", `/v1/broadcasts/${id}/${action}`, { key: owner.secret }),
        409,
        "broadcast_state_conflict",
      );
      expect(error.message, `${action} ${id}`).toMatch(/completed|canceled|draft/);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe("broadcasts: test sends", () => {
  it("bounded, checked like sends, marked test, and outside the broadcast's counts", async () => {
    const owner = await seedTenant();
    const stranger = await seedTenant();
    const ids = await createContacts(owner.secret, phones(2, 180));
    const [theirs] = await createContacts(stranger.secret, phones(1, 181));
    const bc = await json(
      await broadcast(owner.secret, smsTo(ids, { text: { body: "Hi {{contact.name}}" } })),
    );
    const done = await waitForBroadcast(owner.secret, bc.id, (b) => b.status === "completed");
    const path = `/v1/broadcasts/${bc.id}/test`;
    const testers = phones(6, 182).map((p) => p.phone);
    const before = await count("SELECT count(*) AS n FROM messages WHERE broadcast_id = ?", bc.id);

    const tooMany = await expectError(
      await call("POST", path, { key: owner.secret, body: { to: testers } }),
      400,
      "validation_error",
    );
    expect(tooMany.details[0].path).toBe("to");
    await expectError(
      await call("POST", path, { key: owner.secret, body: { to: ["+551133334444"] } }),
      422,
      "recipient_not_mobile",
    );
    const foreign = await expectError(
      await call("POST", path, { key: owner.secret, body: { to: [testers[0]], contact_id: theirs } }),
      404,
      "resource_not_found",
    );
    expect(foreign.details).toEqual([{ path: "contact_id", message: expect.any(String) }]);
    const stopped = testers[5] as string;
    await call("POST", "/v1/suppressions", { key: owner.secret, body: { channel: "sms", address: stopped } });
    await expectError(
      await call("POST", path, { key: owner.secret, body: { to: [stopped] } }),
      422,
      "recipient_suppressed",
    );
    // None of the refused test sends stored a message.
    expect(await count("SELECT count(*) AS n FROM messages WHERE broadcast_id = ?", bc.id)).toBe(before);

    const res = await call("POST", path, {
      key: owner.secret,
      body: { to: testers.slice(0, 2), contact_id: ids[0] },
    });
    expect(res.status).toBe(202);
    const sent = await json(res);
    expect(sent.data).toHaveLength(2);
    for (const m of sent.data) {
      expect(m).toMatchObject({ test: true, broadcast_id: bc.id });
      expect(m.content.text.body).toBe("Hi Person 180-0");
    }
    const listed = await json(
      await call("GET", `/v1/messages?broadcast_id=${bc.id}&limit=100`, { key: owner.secret }),
    );
    expect(
      listed.data
        .filter((m: any) => m.test)
        .map((m: any) => m.id)
        .sort(),
    ).toEqual(sent.data.map((m: any) => m.id).sort());
    const after = await json(await call("GET", `/v1/broadcasts/${bc.id}`, { key: owner.secret }));
    expect(after.counts).toEqual(done.counts);
    expect(after.status).toBe("completed");
  });
});

describe("broadcasts: a weaker key", () => {
  it("messages:send cannot create, preview, read, start, pause, cancel, test or stream a broadcast", async () => {
    const owner = await seedTenant();
    const weak: SeededKey = await seedKey(owner.tenantId, { scopes: ["messages:send"] });
    const ids = await createContacts(owner.secret, phones(1, 190));
    const draft = await json(await broadcast(owner.secret, smsTo(ids, { start: false })));
    const key = weak.secret;
    const attempts = [
      await broadcast(key, smsTo(ids)),
      await broadcast(key, smsTo(ids, { dry_run: true })),
      await call("POST", "/v1/broadcasts/preview", { key, body: smsTo(ids) }),
      await call("GET", "/v1/broadcasts", { key }),
      await call("GET", `/v1/broadcasts/${draft.id}`, { key }),
      await call("GET", `/v1/broadcasts/${draft.id}/events`, { key }),
      await call("POST", `/v1/broadcasts/${draft.id}/test`, {
        key,
        body: { to: [phones(1, 191)[0]?.phone] },
      }),
      ...(await Promise.all(
        ["start", "pause", "resume", "cancel"].map((action) =>
          call("POST", `/v1/broadcasts/${draft.id}/${action}`, { key }),
        ),
      )),
    ];
    for (const res of attempts) await expectError(res, 403, "insufficient_scope");
    expect(await broadcastsOf(owner.tenantId)).toBe(1);
    const after = await json(await call("GET", `/v1/broadcasts/${draft.id}`, { key: owner.secret }));
    expect(after.status).toBe("draft");
    expect(await count("SELECT count(*) AS n FROM messages WHERE tenant_id = ?", owner.tenantId)).toBe(0);
  });
});

describe("broadcasts: suppression at snapshot", () => {
  it("a contact suppressed after the draft was made is skipped at start and gets no message", async () => {
    const owner = await seedTenant();
    const people = phones(3, 195);
    const ids = await createContacts(owner.secret, people);
    const draft = await json(await broadcast(owner.secret, smsTo(ids, { start: false })));
    const suppressed = await call("POST", "/v1/suppressions", {
      key: owner.secret,
      body: { channel: "sms", address: people[1]?.phone },
    });
    expect([200, 201]).toContain(suppressed.status);
    const preview = await json(
      await call("POST", "/v1/broadcasts/preview", { key: owner.secret, body: smsTo(ids) }),
    );
    expect(preview.skipped).toMatchObject({ suppressed: 1 });
    expect(preview.eligible).toBe(2);

    expect((await call("POST", `/v1/broadcasts/${draft.id}/start`, { key: owner.secret })).status).toBe(200);
    const done = await waitForBroadcast(owner.secret, draft.id, (b) => b.status === "completed");
    expect(done.counts).toMatchObject({ total: 3, sent: 2, skipped: 1, failed: 0 });
    expect(done.skipped).toEqual({ suppressed: 1, invalid: 0, not_mobile: 0, no_address: 0 });
    const per = await messagesPerContact(draft.id);
    expect(per.map((r) => r.contact_id).sort()).toEqual([ids[0], ids[2]].sort());
    expect(
      await count(
        'SELECT count(*) AS n FROM messages WHERE tenant_id = ? AND "to" = ?',
        owner.tenantId,
        people[1]?.phone,
      ),
    ).toBe(0);
  });
});

describe("promise: storage failing half-way leaves nothing half-done, and a job that keeps failing stops the broadcast", () => {
  it("a fan-out batch refused by D1 holds no money and stores no message; the broadcast pauses after its retries", async () => {
    const { secret, tenantId } = await seedTenant();
    const ids = await createContacts(secret, phones(3, 196));
    const draft = await json(
      await broadcast(secret, {
        name: "Doomed",
        channel: "sms",
        text: { body: "Hi" },
        audience: { contact_ids: ids },
        start: false,
      }),
    );
    // Storage refuses this broadcast's messages: every fan-out batch aborts at its message insert.
    const trigger = `doomed_${draft.id}`;
    await env.DB.prepare(
      `CREATE TRIGGER ${trigger} BEFORE INSERT ON messages WHEN NEW.broadcast_id = '${draft.id}'
       BEGIN SELECT RAISE(ABORT, 'storage refused'); END`,
    ).run();
    try {
      const before = await json(await call("GET", "/v1/balance", { key: secret }));
      await call("POST", `/v1/broadcasts/${draft.id}/start`, { key: secret });
      const stub = env.BROADCAST_RUNNER.get(env.BROADCAST_RUNNER.idFromName(draft.id));
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && Object.keys((await stub.snapshot())?.inflight ?? {}).length === 0) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 1500)); // the job ran (and failed) at least once
      const after = await json(await call("GET", "/v1/balance", { key: secret }));
      expect(after.balance).toBe(before.balance);
      const held = await env.DB.prepare(
        "SELECT count(*) AS n FROM ledger_entries WHERE message_id = ? AND tenant_id = ?",
      )
        .bind(draft.id, tenantId)
        .first<{ n: number }>();
      expect(held?.n).toBe(0);
      expect(await count("SELECT count(*) AS n FROM messages WHERE broadcast_id = ?", draft.id)).toBe(0);
      // Its retries used up (as after MAX_BATCH_RETRIES leases), the runner's next alarm pauses the broadcast.
      await runInDurableObject(stub, async (_instance, state) => {
        const saved = (await state.storage.get<any>("state")) ?? {};
        for (const batch of Object.values<any>(saved.inflight)) {
          batch.retries = 5;
          batch.releasedAt = 0;
        }
        await state.storage.put("state", saved);
      });
      await runDurableObjectAlarm(stub);
      const paused = await json(await call("GET", `/v1/broadcasts/${draft.id}`, { key: secret }));
      expect(paused).toMatchObject({ status: "paused", pause_reason: "batch_failing" });
    } finally {
      await env.DB.prepare(`DROP TRIGGER IF EXISTS ${trigger}`).run();
    }
  });
});
