import { describe, expect, it } from "vitest";
import { keywordForm, matchOptKeyword, START_KEYWORDS, STOP_KEYWORDS } from "../../src/domain/opt-out";

describe("matchOptKeyword", () => {
  it.each([
    ["STOP", "STOP"],
    ["stop", "STOP"],
    [" Stop ", "STOP"],
    ["Stop!", "STOP"],
    ["STOP.", "STOP"],
    ["\tstop\n", "STOP"],
    ["StopAll", "STOPALL"],
    ["unsubscribe", "UNSUBSCRIBE"],
    ["Cancel", "CANCEL"],
    ["end", "END"],
    ["QUIT", "QUIT"],
    ["sair", "SAIR"],
    ["Párar", "PARAR"],
    ["PÁRAR", "PARAR"],
    ["cancelar", "CANCELAR"],
    ["¡BAJA!", "BAJA"],
    ["baja 🛑", "BAJA"],
  ])("%j opts out as %s", (text, keyword) => {
    expect(matchOptKeyword(text)).toEqual({ action: "opt_out", keyword });
  });

  it.each([
    ["START", "START"],
    ["start", "START"],
    [" Unstop ", "UNSTOP"],
    ["voltar", "VOLTAR"],
    ["Voltár!", "VOLTAR"],
  ])("%j opts in as %s", (text, keyword) => {
    expect(matchOptKeyword(text)).toEqual({ action: "opt_in", keyword });
  });

  it.each([
    "STOP please",
    "please stop",
    "don't stop",
    "stopp",
    "S T O P",
    "st0p",
    "STOP STOP",
    "",
    "   ",
    "!!!",
    "starting",
    `STOP${" ".repeat(100)}`,
  ])("%j is not a keyword", (text) => {
    expect(matchOptKeyword(text)).toBeNull();
  });

  it("ignores missing text and very long texts without work", () => {
    expect(matchOptKeyword(undefined)).toBeNull();
    expect(matchOptKeyword(null)).toBeNull();
    expect(matchOptKeyword("x".repeat(100_000))).toBeNull();
  });

  it("every listed keyword matches itself in lower case, and the two lists do not overlap", () => {
    for (const k of STOP_KEYWORDS) expect(matchOptKeyword(k.toLowerCase())?.action).toBe("opt_out");
    for (const k of START_KEYWORDS) expect(matchOptKeyword(k.toLowerCase())?.action).toBe("opt_in");
    expect(STOP_KEYWORDS.filter((k) => (START_KEYWORDS as readonly string[]).includes(k))).toEqual([]);
  });

  it("keywordForm strips accents and surrounding punctuation only", () => {
    expect(keywordForm(" ¿Cancelár? ")).toBe("CANCELAR");
    expect(keywordForm("stop-all")).toBe("STOP-ALL");
  });
});
