import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  collectMergeFields,
  MAX_CONTENT_DEPTH,
  type MergeContact,
  parseMergeFields,
  renderContent,
  renderMergeFields,
  requiredFields,
  SAMPLE_CONTACT,
} from "../../src/domain/merge-fields";

const MARIA: MergeContact = {
  name: "Maria",
  externalId: "crm-42",
  attributes: { plan: "gold", points: 1200, vip: true, ratio: 0.5, zero: 0, off: false, blank: "  " },
};
const NOBODY: MergeContact = { name: null, externalId: null, attributes: {} };

function fieldsOf(text: string) {
  const result = parseMergeFields(text);
  if (!result.ok) throw new Error(result.message);
  return result.fields;
}

function errorOf(text: string): string {
  const result = parseMergeFields(text);
  if (result.ok) throw new Error(`expected an error for ${text}`);
  return result.message;
}

describe("parseMergeFields", () => {
  it("finds each kind of field with its default and raw text", () => {
    expect(
      fieldsOf("Hi {{contact.name|there}}, id {{contact.external_id}}, plan {{contact.attributes.plan|}}"),
    ).toEqual([
      { path: "name", fallback: "there", raw: "{{contact.name|there}}" },
      { path: "external_id", fallback: null, raw: "{{contact.external_id}}" },
      { path: "attributes.plan", fallback: "", raw: "{{contact.attributes.plan|}}" },
    ]);
  });

  it("trims the path and the default but keeps the raw text as written", () => {
    expect(fieldsOf("{{ contact.name | dear friend }}")).toEqual([
      { path: "name", fallback: "dear friend", raw: "{{ contact.name | dear friend }}" },
    ]);
    expect(fieldsOf("{{contact.name|a|b}}")[0]?.fallback).toBe("a|b");
  });

  it("accepts attribute keys of letters, digits, _, - and . up to 64 characters", () => {
    const key = "a".repeat(64);
    expect(fieldsOf(`{{contact.attributes.${key}}}`)[0]?.path).toBe(`attributes.${key}`);
    expect(fieldsOf("{{contact.attributes.first_name-2.x}}")[0]?.path).toBe("attributes.first_name-2.x");
  });

  it("leaves braces that are not contact fields literal (template variables, prose)", () => {
    expect(fieldsOf("Order {{1}} ships {{2}}; {{ order.id }} {not} {{}}")).toEqual([]);
    expect(fieldsOf("no braces at all")).toEqual([]);
    expect(fieldsOf("")).toEqual([]);
  });

  it("names an unknown contact field and says which ones exist", () => {
    expect(errorOf("Call {{contact.phone}}")).toBe(
      "Unknown merge field {{contact.phone}}; use contact.name, contact.external_id or contact.attributes.<key>.",
    );
    expect(errorOf("{{contact}}")).toContain("Unknown merge field {{contact}}");
    expect(errorOf("{{contact.}}")).toContain("Unknown merge field {{contact.}}");
    expect(errorOf("{{contactName}}")).toContain("{{contactName}}");
    // Case typos are caught rather than silently sent as literal text.
    expect(errorOf("{{Contact.Name}}")).toContain("{{Contact.Name}}");
    expect(errorOf("{{contact.name.first}}")).toContain("{{contact.name.first}}");
  });

  it("rejects bad attribute keys, naming the key", () => {
    expect(errorOf("{{contact.attributes.}}")).toContain('invalid attribute key ""');
    expect(errorOf("{{contact.attributes.a b}}")).toContain('invalid attribute key "a b"');
    expect(errorOf(`{{contact.attributes.${"k".repeat(65)}}}`)).toContain("invalid attribute key");
    expect(errorOf("{{contact.attributes.ção}}")).toContain('"ção"');
  });

  it("rejects a contact field that is never closed", () => {
    expect(errorOf("Hi {{contact.name|a}b}}")).toBe(
      'Merge field starting "{{contact.name|a}b}}" is not closed with }}; a default cannot contain { or }.',
    );
    expect(errorOf("Hi {{ contact.name")).toContain("not closed");
    // A stray opener that is not ours stays literal.
    expect(fieldsOf("Hi {{ order")).toEqual([]);
  });
});

describe("renderMergeFields", () => {
  it("fills values, stringifying numbers and booleans", () => {
    expect(
      renderMergeFields(
        "{{contact.name}} ({{contact.external_id}}): {{contact.attributes.plan}}, {{contact.attributes.points}} pts, vip={{contact.attributes.vip}}, {{contact.attributes.ratio}}",
        MARIA,
      ),
    ).toBe("Maria (crm-42): gold, 1200 pts, vip=true, 0.5");
    expect(renderMergeFields("{{contact.attributes.zero}}/{{contact.attributes.off}}", MARIA)).toBe(
      "0/false",
    );
  });

  it("uses the default when a value is missing, null or blank, else the empty string", () => {
    expect(renderMergeFields("Hi {{contact.name|there}}!", NOBODY)).toBe("Hi there!");
    expect(renderMergeFields("Hi {{contact.name}}!", NOBODY)).toBe("Hi !");
    expect(renderMergeFields("Hi {{contact.name|}}!", NOBODY)).toBe("Hi !");
    expect(renderMergeFields("{{contact.attributes.missing|n/a}}", MARIA)).toBe("n/a");
    expect(renderMergeFields("{{contact.attributes.blank|n/a}}", MARIA)).toBe("n/a");
    expect(renderMergeFields("{{ contact.name | there }}", { ...NOBODY, name: "" })).toBe("there");
    // A present value wins over the default.
    expect(renderMergeFields("{{contact.name|there}}", MARIA)).toBe("Maria");
  });

  it("never reads inherited properties as attributes", () => {
    for (const key of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      expect(renderMergeFields(`{{contact.attributes.${key}|-}}`, NOBODY)).toBe("-");
    }
    const inherited: MergeContact = { ...NOBODY, attributes: Object.create({ plan: "inherited" }) };
    expect(renderMergeFields("{{contact.attributes.plan|-}}", inherited)).toBe("-");
  });

  it("renders in one pass: a value holding a merge field is not rendered again", () => {
    const sneaky: MergeContact = {
      name: "{{contact.external_id}}",
      externalId: "secret",
      attributes: { a: "{{contact.attributes.b}}", b: "x" },
    };
    expect(renderMergeFields("Hi {{contact.name}} {{contact.attributes.a}}", sneaky)).toBe(
      "Hi {{contact.external_id}} {{contact.attributes.b}}",
    );
  });

  it("keeps literal braces, template variables and special replacement patterns as written", () => {
    expect(renderMergeFields("Order {{1}} for {{contact.name}} {not}", MARIA)).toBe(
      "Order {{1}} for Maria {not}",
    );
    const dollars: MergeContact = { ...NOBODY, name: "$& $1 $$" };
    expect(renderMergeFields("[{{contact.name}}]", dollars)).toBe("[$& $1 $$]");
  });

  it("returns text without merge fields unchanged (same string)", () => {
    const text = "Plain text, no fields {{1}}";
    expect(renderMergeFields(text, MARIA)).toBe(text);
    expect(renderMergeFields("", MARIA)).toBe("");
  });

  it("renders invalid contact fields literally rather than throwing (validation happens before)", () => {
    expect(renderMergeFields("{{contact.phone}} {{contact.name}}", MARIA)).toBe("{{contact.phone}} Maria");
  });

  it("gives the same text for each recipient of a cached string", () => {
    const text = "Hello {{contact.name|friend}}, your plan is {{contact.attributes.plan|basic}}.";
    expect(renderMergeFields(text, MARIA)).toBe("Hello Maria, your plan is gold.");
    expect(renderMergeFields(text, NOBODY)).toBe("Hello friend, your plan is basic.");
    expect(renderMergeFields(text, MARIA)).toBe("Hello Maria, your plan is gold.");
  });

  it("renders 100,000 recipients quickly", () => {
    const text =
      "Hi {{contact.name|there}}, your code is {{contact.attributes.code}}. Reply STOP to opt out.";
    const started = Date.now();
    let length = 0;
    for (let i = 0; i < 100_000; i++) {
      length += renderMergeFields(text, { name: `n${i}`, externalId: null, attributes: { code: i } }).length;
    }
    expect(length).toBeGreaterThan(0);
    // Generous bound for slow CI; a per-call regex/parse would still pass, a quadratic one would not.
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("property: text without '{{' is returned as is; rendering never leaves a valid field behind", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        if (!text.includes("{{")) expect(renderMergeFields(text, MARIA)).toBe(text);
      }),
    );
    const piece = fc.constantFrom(
      "{{contact.name}}",
      "{{contact.name|x}}",
      "{{contact.attributes.plan}}",
      "a",
      " ",
      "{{1}}",
    );
    fc.assert(
      fc.property(fc.array(piece), (pieces) => {
        const rendered = renderMergeFields(pieces.join(""), MARIA);
        expect(rendered).not.toContain("{{contact.");
      }),
    );
  });
});

describe("collectMergeFields", () => {
  const content = {
    template: {
      name: "order_update",
      language: "pt_BR",
      variables: { "1": "{{contact.name|cliente}}", "2": "{{contact.attributes.order_id}}", "3": 7 },
    },
    text: { body: "Oi {{contact.name|cliente}}, pedido {{contact.attributes.order_id}}" },
    media: [{ caption: "{{ contact.external_id }}" }, null, true],
  };

  it("walks every string, deduplicating by raw text", () => {
    const result = collectMergeFields(content);
    expect(result).toEqual({
      ok: true,
      fields: [
        { path: "name", fallback: "cliente", raw: "{{contact.name|cliente}}" },
        { path: "attributes.order_id", fallback: null, raw: "{{contact.attributes.order_id}}" },
        { path: "external_id", fallback: null, raw: "{{ contact.external_id }}" },
      ],
    });
    if (result.ok) {
      expect(requiredFields(result.fields).map((f) => f.raw)).toEqual([
        "{{contact.attributes.order_id}}",
        "{{ contact.external_id }}",
      ]);
    }
  });

  it("reports the JSON path of the bad string", () => {
    expect(collectMergeFields({ template: { variables: ["ok", "{{contact.phone}}"] } })).toEqual({
      ok: false,
      path: "template.variables.1",
      message:
        "Unknown merge field {{contact.phone}}; use contact.name, contact.external_id or contact.attributes.<key>.",
    });
    const email = collectMergeFields({ email: { subject: "ok", html: "<p>{{contact.attributes.a b}}</p>" } });
    expect(email).toMatchObject({ ok: false, path: "email.html" });
    expect(collectMergeFields("{{contact.nope}}")).toMatchObject({ ok: false, path: "" });
  });

  it("ignores non-strings and accepts empty containers", () => {
    expect(collectMergeFields(null)).toEqual({ ok: true, fields: [] });
    expect(collectMergeFields(42)).toEqual({ ok: true, fields: [] });
    expect(collectMergeFields({ a: [], b: {} })).toEqual({ ok: true, fields: [] });
  });

  it(`accepts nesting up to ${MAX_CONTENT_DEPTH} levels and rejects deeper`, () => {
    const nest = (levels: number): unknown => {
      let value: unknown = "{{contact.name}}";
      for (let i = 0; i < levels; i++) value = { x: value };
      return value;
    };
    expect(collectMergeFields(nest(MAX_CONTENT_DEPTH))).toMatchObject({ ok: true });
    const deep = collectMergeFields(nest(MAX_CONTENT_DEPTH + 1));
    expect(deep).toMatchObject({ ok: false, message: expect.stringContaining("nested more than 10") });
    if (!deep.ok) expect(deep.path.split(".").length).toBe(MAX_CONTENT_DEPTH);
  });
});

describe("renderContent", () => {
  it("renders every string deeply, leaving keys and other values alone", () => {
    const content = {
      "{{contact.name}}": "key stays",
      template: { name: "t", variables: { "1": "{{contact.name|there}}", "2": 5, "3": null } },
      email: { subject: "For {{contact.name}}", tags: ["{{contact.attributes.plan}}", false] },
    };
    expect(renderContent(content, MARIA)).toEqual({
      "{{contact.name}}": "key stays",
      template: { name: "t", variables: { "1": "Maria", "2": 5, "3": null } },
      email: { subject: "For Maria", tags: ["gold", false] },
    });
    // The input is not mutated.
    expect(content.email.subject).toBe("For {{contact.name}}");
  });

  it("keeps a __proto__ key from parsed JSON as a plain key", () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": "{{contact.name}}"}, "a": "b"}');
    const rendered = renderContent(parsed, MARIA) as Record<string, unknown>;
    expect(Object.hasOwn(rendered, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(rendered)).toBe(Object.prototype);
    expect((rendered as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it("renders with the sample contact for previews", () => {
    expect(
      renderContent({ text: { body: "Hi {{contact.name}} ({{contact.external_id}})" } }, SAMPLE_CONTACT),
    ).toEqual({ text: { body: "Hi Alex Sample (sample-1)" } });
    expect(SAMPLE_CONTACT.attributes).toEqual({});
  });
});
