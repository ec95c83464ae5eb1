import { describe, expect, it } from "vitest";
import {
  canonicalizePlaceholders,
  checkVariables,
  isTemplateLanguage,
  isTemplateName,
  parsePlaceholders,
  renderTemplate,
  validateTemplateDefinition,
} from "../../src/domain/templates";

const ORDER = { name: "order_confirmation", language: "pt_BR" };

describe("parsePlaceholders", () => {
  it.each([
    ["Hello there", { style: "none", names: [] }],
    ["", { style: "none", names: [] }],
    ["Hi {{1}}, order {{2}} ships {{3}}.", { style: "numbered", names: ["1", "2", "3"] }],
    ["Hi {{2}} and {{1}} and {{2}} again", { style: "numbered", names: ["2", "1"] }],
    ["Hi {{first_name}}, order {{order_id}}.", { style: "named", names: ["first_name", "order_id"] }],
    ["{{a1_b2}} {{a}} {{a1_b2}}", { style: "named", names: ["a1_b2", "a"] }],
    ["Hi {{ 1 }} and {{  2}} and {{\t3\t}}", { style: "numbered", names: ["1", "2", "3"] }],
    ["Hi {{ first_name }}", { style: "named", names: ["first_name"] }],
    ["{{10}} {{11}}", { style: "numbered", names: ["10", "11"] }],
  ])("%j", (text, expected) => {
    expect(parsePlaceholders(text)).toEqual(expected);
  });

  it("skips malformed placeholders (validateTemplateDefinition reports them)", () => {
    for (const text of [
      "{{}}",
      "{{ }}",
      "{{0}}",
      "{{01}}",
      "{{First}}",
      "{{first name}}",
      "{{1a}}",
      "{{_x}}",
      "{{-1}}",
      "{{1.5}}",
      "{1}",
      "{{1}",
      "{1}}",
      "{{{}}}",
    ]) {
      expect(parsePlaceholders(text), text).toEqual({ style: "none", names: [] });
    }
    expect(parsePlaceholders("{{{1}}}")).toEqual({ style: "numbered", names: ["1"] });
  });

  it("reports the first style and every name when styles are mixed", () => {
    expect(parsePlaceholders("{{name}} {{1}}")).toEqual({ style: "named", names: ["name", "1"] });
    expect(parsePlaceholders("{{1}} {{name}}")).toEqual({ style: "numbered", names: ["1", "name"] });
  });
});

describe("canonicalizePlaceholders and renderTemplate", () => {
  it("strips whitespace inside valid placeholders only", () => {
    expect(canonicalizePlaceholders("Hi {{ 1 }}, {{  first_name\t}} {{ First }} {{ }}")).toBe(
      "Hi {{1}}, {{first_name}} {{ First }} {{ }}",
    );
  });

  it("substitutes numbered, named and spaced placeholders", () => {
    expect(renderTemplate("Olá {{1}}, pedido {{2}}. Obrigado, {{1}}!", { "1": "Ana", "2": "#123" })).toBe(
      "Olá Ana, pedido #123. Obrigado, Ana!",
    );
    expect(renderTemplate("Hi {{ first_name }}!", { first_name: "Bo" })).toBe("Hi Bo!");
  });

  it("does not expand placeholders inside values, nor $-patterns", () => {
    expect(renderTemplate("{{1}} / {{2}}", { "1": "{{2}}", "2": "x" })).toBe("{{2}} / x");
    expect(renderTemplate("Total {{1}}", { "1": "$& $1 $$" })).toBe("Total $& $1 $$");
  });

  it("leaves placeholders without a variable and malformed ones untouched", () => {
    expect(renderTemplate("{{1}} {{2}} {{First}}", { "1": "a", First: "no" })).toBe("a {{2}} {{First}}");
    expect(renderTemplate("{{toString}} {{constructor}}", {})).toBe("{{toString}} {{constructor}}");
  });
});

describe("validateTemplateDefinition", () => {
  const messages = (definition: Parameters<typeof validateTemplateDefinition>[0]) =>
    validateTemplateDefinition(definition).map((p) => `${p.field}: ${p.message}`);

  it("accepts well-formed templates", () => {
    expect(validateTemplateDefinition({ body: "Hi {{1}}, your order {{2}} has shipped." })).toEqual([]);
    expect(
      validateTemplateDefinition({
        body: "Hi {{first_name}}, your code is {{code}}.",
        header: "Order for {{first_name}}",
        footer: "Reply STOP to opt out",
        buttons: [
          { type: "url", text: "Track" },
          { type: "url", text: "Help" },
          { type: "phone_number", text: "Call us" },
          { type: "copy_code", text: "Copy code" },
          { type: "quick_reply", text: "x".repeat(25) },
        ],
      }),
    ).toEqual([]);
    expect(validateTemplateDefinition({ body: `Hi ${"x".repeat(1021)}` })).toEqual([]); // 1024 exactly
    expect(validateTemplateDefinition({ body: "Plain text, no variables.", header: "h".repeat(60) })).toEqual(
      [],
    );
  });

  it("rejects mixed styles in one text and across header and body", () => {
    expect(messages({ body: "Hi {{1}} and {{name}} ok" })).toEqual([
      "body: Do not mix numbered ({{1}}) and named ({{first_name}}) placeholders.",
    ]);
    expect(messages({ body: "Hi {{1}} ok", header: "For {{name}}" })).toEqual([
      "header: Header and body must use the same placeholder style.",
    ]);
  });

  it("rejects numbered placeholders that do not run from 1 without gaps", () => {
    expect(messages({ body: "Hi {{2}} ok" })).toEqual([
      "body: Numbered placeholders must run from {{1}} without gaps; {{1}} is missing.",
    ]);
    expect(messages({ body: "Hi {{1}} {{2}} {{4}} ok" })).toEqual([
      "body: Numbered placeholders must run from {{1}} without gaps; {{3}} is missing.",
    ]);
    expect(messages({ body: "Hi {{3}} {{1}} {{2}} ok" })).toEqual([]);
  });

  it("rejects empty and malformed placeholders and stray braces", () => {
    expect(messages({ body: "Hi {{}} ok" })).toEqual([
      "body: Placeholder {{}} is empty; use {{1}} or a name like {{first_name}}.",
    ]);
    expect(messages({ body: "Hi {{ }} ok" })).toHaveLength(1);
    for (const bad of ["{{First}}", "{{0}}", "{{first name}}", "{{1a}}", "{{_x}}"]) {
      const problems = messages({ body: `Hi ${bad} ok` });
      expect(problems, bad).toHaveLength(1);
      expect(problems[0]).toMatch(/^body: Placeholder .* is invalid/);
    }
    expect(messages({ body: "Hi {{1} ok" })).toEqual([
      "body: Text has unmatched {{ or }}; placeholders look like {{1}} or {{first_name}}.",
    ]);
    expect(messages({ body: "Hi 1}} ok" })).toHaveLength(1);
  });

  it("rejects a body that starts or ends with a placeholder (Meta rule)", () => {
    const rule = "body: Body must not start or end with a placeholder; put some text around it.";
    expect(messages({ body: "{{1}} is your code" })).toEqual([rule]);
    expect(messages({ body: "Your code is {{1}}" })).toEqual([rule]);
    expect(messages({ body: "  {{ 1 }} is your code" })).toEqual([rule]);
    expect(messages({ body: "Your code is {{1}}." })).toEqual([]);
  });

  it("enforces Meta's length limits, counting characters not UTF-16 units", () => {
    expect(messages({ body: "" })).toEqual(["body: Body must not be empty."]);
    expect(messages({ body: "   " })).toEqual(["body: Body must not be empty."]);
    expect(messages({ body: `Hi ${"x".repeat(1022)}` })).toEqual([
      "body: Body is longer than 1024 characters.",
    ]);
    expect(messages({ body: "🎉".repeat(1024) })).toEqual([]);
    expect(messages({ body: "ok", header: "h".repeat(61) })).toEqual([
      "header: Header is longer than 60 characters.",
    ]);
    expect(messages({ body: "ok", footer: "f".repeat(61) })).toEqual([
      "footer: Footer is longer than 60 characters.",
    ]);
  });

  it("allows one header placeholder and none in the footer", () => {
    expect(messages({ body: "ok", header: "Hi {{1}} and {{2}}" })).toEqual([
      "header: Header may contain at most 1 placeholder.",
    ]);
    expect(messages({ body: "ok", footer: "Bye {{1}}" })).toEqual([
      "footer: Footer must not contain placeholders.",
    ]);
    expect(messages({ body: "ok", header: "Hi {{2}}" })).toEqual([
      "header: Numbered placeholders must run from {{1}} without gaps; {{1}} is missing.",
    ]);
  });

  it("checks buttons: count, per-type limits and text", () => {
    const eleven = Array.from({ length: 11 }, (_, i) => ({
      type: "quick_reply" as const,
      text: `Option ${i}`,
    }));
    expect(messages({ body: "ok", buttons: eleven })).toEqual([
      "buttons: A template may have at most 10 buttons.",
    ]);
    expect(messages({ body: "ok", buttons: eleven.slice(0, 10) })).toEqual([]);
    expect(
      messages({
        body: "ok",
        buttons: [
          { type: "url", text: "a" },
          { type: "url", text: "b" },
          { type: "url", text: "c" },
          { type: "phone_number", text: "d" },
          { type: "phone_number", text: "e" },
          { type: "copy_code", text: "f" },
          { type: "copy_code", text: "g" },
        ],
      }),
    ).toEqual([
      "buttons: A template may have at most 2 URL buttons.",
      "buttons: A template may have at most 1 phone number button.",
      "buttons: A template may have at most 1 copy code button.",
    ]);
    expect(
      messages({ body: "ok", buttons: [{ text: "fine" }, { text: " " }, { text: "x".repeat(26) }] }),
    ).toEqual([
      "buttons[1].text: Button text must not be empty.",
      "buttons[2].text: Button text is longer than 25 characters.",
    ]);
  });
});

describe("checkVariables", () => {
  const numbered = parsePlaceholders("Olá {{1}}, pedido {{2}} chega {{3}}.");

  it("accepts exactly the expected variables", () => {
    expect(checkVariables(numbered, { "1": "Ana", "2": "#123", "3": "amanhã" }, ORDER)).toEqual({ ok: true });
    expect(checkVariables(parsePlaceholders("no vars"), {}, ORDER)).toEqual({ ok: true });
  });

  it("names missing variables in the documented message", () => {
    expect(checkVariables(numbered, { "1": "Ana", "2": "#123" }, ORDER)).toEqual({
      ok: false,
      missing: ["3"],
      unexpected: [],
      invalid: [],
      message: "Template order_confirmation (pt_BR) expects variables 1,2,3; missing 3.",
    });
  });

  it("lists numbered variables numerically even if the body uses them out of order", () => {
    const result = checkVariables(parsePlaceholders("a {{2}} b {{10}} c {{1}} d"), {}, ORDER);
    expect(result.ok === false && result.message).toBe(
      "Template order_confirmation (pt_BR) expects variables 1,2,10; missing 1,2,10.",
    );
  });

  it("reports unexpected variables, also for templates without any", () => {
    expect(
      checkVariables(numbered, { "1": "a", "2": "b", "3": "c", "4": "d", name: "e" }, ORDER),
    ).toMatchObject({
      ok: false,
      missing: [],
      unexpected: ["4", "name"],
      message: "Template order_confirmation (pt_BR) expects variables 1,2,3; unexpected 4,name.",
    });
    expect(
      checkVariables(parsePlaceholders("Hello"), { "1": "x" }, { name: "hello", language: "en" }),
    ).toMatchObject({ ok: false, message: "Template hello (en) expects no variables; unexpected 1." });
  });

  it("keeps named variables in template order and combines missing and unexpected", () => {
    const named = parsePlaceholders("Hi {{first_name}}, code {{code}} for {{app}}.");
    expect(checkVariables(named, { first_name: "Ana", 1: "x" }, ORDER)).toMatchObject({
      ok: false,
      missing: ["code", "app"],
      unexpected: ["1"],
      message:
        "Template order_confirmation (pt_BR) expects variables first_name,code,app; missing code,app; unexpected 1.",
    });
  });

  it.each([
    ["", "is empty"],
    ["   ", "is empty"],
    ["line\nbreak", "contains a newline or tab"],
    ["carriage\rreturn", "contains a newline or tab"],
    ["tab\there", "contains a newline or tab"],
    ["five     spaces", "contains more than 4 consecutive spaces"],
    ["x".repeat(1025), "is longer than 1024 characters"],
  ])("rejects value %j", (value, reason) => {
    const result = checkVariables(numbered, { "1": "Ana", "2": value, "3": "ok" }, ORDER);
    expect(result).toEqual({
      ok: false,
      missing: [],
      unexpected: [],
      invalid: [{ name: "2", message: `variable 2 ${reason}` }],
      message: `Template order_confirmation (pt_BR) expects variables 1,2,3; variable 2 ${reason}.`,
    });
  });

  it("accepts values at the limits", () => {
    const ok = (value: string) => checkVariables(numbered, { "1": value, "2": "b", "3": "c" }, ORDER).ok;
    expect(ok("four    spaces")).toBe(true);
    expect(ok("x".repeat(1024))).toBe(true);
    expect(ok("🎉".repeat(1024))).toBe(true);
    expect(ok(" padded ")).toBe(true);
  });

  it("rejects non-string values that slipped past the schema", () => {
    const result = checkVariables(numbered, { "1": 5 as unknown as string, "2": "b", "3": "c" }, ORDER);
    expect(result.ok === false && result.message).toBe(
      "Template order_confirmation (pt_BR) expects variables 1,2,3; variable 1 must be a string.",
    );
  });

  it("does not treat inherited object keys as provided", () => {
    const named = parsePlaceholders("Hi {{constructor}} there");
    expect(checkVariables(named, {}, ORDER)).toMatchObject({ ok: false, missing: ["constructor"] });
  });
});

describe("isTemplateLanguage / isTemplateName", () => {
  it("accepts Meta language codes only", () => {
    for (const code of ["en", "en_US", "pt_BR", "zh_CN", "fil", "es_MX"])
      expect(isTemplateLanguage(code), code).toBe(true);
    for (const code of [
      "",
      "EN",
      "en-US",
      "en_us",
      "pt_br",
      "english",
      "e",
      "en_USA",
      "en_",
      "zh_Hans",
      " en",
    ]) {
      expect(isTemplateLanguage(code), code).toBe(false);
    }
  });

  it("accepts lowercase/digit/underscore names up to 512 characters", () => {
    for (const name of ["order_confirmation", "otp2", "a", "_", "x".repeat(512)])
      expect(isTemplateName(name)).toBe(true);
    for (const name of ["", "Order", "order-confirmation", "order confirmation", "ação", "x".repeat(513)]) {
      expect(isTemplateName(name), name).toBe(false);
    }
  });
});
