import { describe, expect, it } from "vitest";
import {
  findUrls,
  isLinkCode,
  isTrackable,
  MAX_TRACKED_URL_LENGTH,
  rewriteUrls,
} from "../../src/domain/links";

/** Code points below 0x20 and 0x7f, checked without a regex (and without the code under test). */
const controlCharactersOf = (text: string) =>
  [...text].map((c) => c.charCodeAt(0)).filter((code) => code < 0x20 || code === 0x7f);

const urlsOf = (text: string, html = false) => findUrls(text, { html }).map((found) => found.url);

describe("findUrls", () => {
  it("finds nothing in text without a URL, or with only a scheme or other schemes", () => {
    expect(findUrls("")).toEqual([]);
    expect(findUrls("Hello there, your order shipped.")).toEqual([]);
    expect(urlsOf("see https:// or http://. or ftp://files.example.com or mailto:a@b.co")).toEqual([]);
    expect(urlsOf("www.example.com without a scheme")).toEqual([]);
  });

  it("gives offsets that slice the URL out of the text", () => {
    const text = "Track it: https://acme.example/track?id=42 today";
    const [found] = findUrls(text);
    expect(found).toEqual({ url: "https://acme.example/track?id=42", start: 10, end: 42 });
    expect(text.slice(found?.start, found?.end)).toBe(found?.url);
  });

  it("drops trailing sentence punctuation but keeps it inside the URL", () => {
    expect(urlsOf("Go to https://acme.example/a.")).toEqual(["https://acme.example/a"]);
    expect(urlsOf("https://acme.example/a, https://acme.example/b; https://acme.example/c:")).toEqual([
      "https://acme.example/a",
      "https://acme.example/b",
      "https://acme.example/c",
    ]);
    expect(urlsOf("Really? https://acme.example/q?x=1!?")).toEqual(["https://acme.example/q?x=1"]);
    expect(urlsOf("https://acme.example/v1.2/file.pdf...")).toEqual(["https://acme.example/v1.2/file.pdf"]);
    expect(urlsOf("https://acme.example/a,b;c:d")).toEqual(["https://acme.example/a,b;c:d"]);
  });

  it("drops an unbalanced closing bracket, keeps balanced ones", () => {
    expect(urlsOf("(see https://acme.example/page)")).toEqual(["https://acme.example/page"]);
    expect(urlsOf("(https://en.wikipedia.org/wiki/Foo_(bar))")).toEqual([
      "https://en.wikipedia.org/wiki/Foo_(bar)",
    ]);
    expect(urlsOf("https://en.wikipedia.org/wiki/Foo_(bar).")).toEqual([
      "https://en.wikipedia.org/wiki/Foo_(bar)",
    ]);
    expect(urlsOf("[link: https://acme.example/x]")).toEqual(["https://acme.example/x"]);
    expect(urlsOf("https://acme.example/a[0]")).toEqual(["https://acme.example/a[0]"]);
    expect(urlsOf("(https://acme.example/a).")).toEqual(["https://acme.example/a"]);
  });

  it("stops at whitespace, quotes, angle brackets and the backtick", () => {
    expect(urlsOf("https://a.example/x\nhttps://b.example/y\r\nhttps://c.example/z\tend")).toEqual([
      "https://a.example/x",
      "https://b.example/y",
      "https://c.example/z",
    ]);
    expect(
      urlsOf(`"https://a.example/q" 'https://b.example/r' <https://c.example/s> \`https://d.example/t\``),
    ).toEqual(["https://a.example/q", "https://b.example/r", "https://c.example/s", "https://d.example/t"]);
    expect(urlsOf("https://a.example/x\u00a0next")).toEqual(["https://a.example/x"]);
  });

  it("takes both schemes in any case, never a scheme glued to a word", () => {
    expect(urlsOf("http://a.example HTTPS://B.EXAMPLE/X")).toEqual([
      "http://a.example",
      "HTTPS://B.EXAMPLE/X",
    ]);
    expect(urlsOf("xhttps://a.example/ data+https://b.example/")).toEqual([]);
    expect(urlsOf("link:https://a.example/ok")).toEqual(["https://a.example/ok"]);
  });

  it("finds many URLs, in order", () => {
    const text = Array.from({ length: 300 }, (_, i) => `item ${i}: https://shop.example/p/${i}`).join("\n");
    const found = findUrls(text);
    expect(found).toHaveLength(300);
    expect(found.map((f) => f.url)).toEqual(
      Array.from({ length: 300 }, (_, i) => `https://shop.example/p/${i}`),
    );
    for (const f of found) expect(text.slice(f.start, f.end)).toBe(f.url);
  });

  it("finds a long URL whole (rewriting leaves it alone, see below)", () => {
    const long = `https://acme.example/${"a".repeat(5000)}`;
    expect(urlsOf(`x ${long} y`)).toEqual([long]);
  });

  it("never returns a URL with CR, LF or another control character", () => {
    const text = "https://a.example/x\r\nLocation: https://evil.example\u0000https://b.example/\u0007z";
    for (const url of urlsOf(text)) expect(controlCharactersOf(url)).toEqual([]);
    expect(urlsOf(text)).toEqual(["https://a.example/x", "https://evil.example", "https://b.example/"]);
  });
});

describe("findUrls in HTML", () => {
  it("catches href values (double, single and unquoted) and bare URLs in text", () => {
    const html =
      `<p>Hi <a href="https://acme.example/a">shop</a> or <a class="x" href='https://acme.example/b'>b</a>` +
      ` <A HREF=https://acme.example/c>c</A> or paste https://acme.example/d.</p>`;
    expect(urlsOf(html, true)).toEqual([
      "https://acme.example/a",
      "https://acme.example/b",
      "https://acme.example/c",
      "https://acme.example/d",
    ]);
  });

  it("decodes &amp; in the URL while the offsets cover the URL as written", () => {
    const html = `<a href="https://acme.example/?a=1&amp;b=2">x</a>`;
    const [found] = findUrls(html, { html: true });
    expect(found?.url).toBe("https://acme.example/?a=1&b=2");
    expect(html.slice(found?.start, found?.end)).toBe("https://acme.example/?a=1&amp;b=2");
  });

  it("ends a URL at entities that stand for quotes and angle brackets", () => {
    expect(urlsOf("&quot;https://acme.example/a&quot; &lt;https://acme.example/b&gt;", true)).toEqual([
      "https://acme.example/a",
      "https://acme.example/b",
    ]);
  });

  it("leaves images, stylesheets, CSS and scripts alone (an image URL would count every open as a click)", () => {
    const html =
      `<html><head><link rel="stylesheet" href="https://cdn.example/s.css">` +
      `<style>.hero { background: url(https://cdn.example/bg.png) }</style>` +
      `<script>var u = "https://cdn.example/x.js";</script></head>` +
      `<body><img src="https://cdn.example/logo.png" alt="logo">` +
      `<div style="background-image: url('https://cdn.example/bg2.png')">` +
      `<a href="https://acme.example/buy"><img src="https://cdn.example/btn.png"></a></div></body></html>`;
    expect(urlsOf(html, true)).toEqual(["https://acme.example/buy"]);
  });

  it("treats the same text as plain text without the html option", () => {
    expect(urlsOf(`<img src="https://cdn.example/logo.png">`)).toEqual(["https://cdn.example/logo.png"]);
    expect(urlsOf("https://acme.example/?a=1&amp;b=2")).toEqual(["https://acme.example/?a=1&amp;b=2"]);
  });
});

describe("rewriteUrls", () => {
  const BASE = "https://sw.example";

  it("replaces each URL and keeps everything around it byte for byte", () => {
    const text = "Hi! Track (https://acme.example/t/1), or https://acme.example/help.\nBye";
    const seen: string[] = [];
    const out = rewriteUrls(text, (url) => {
      seen.push(url);
      return `<${seen.length}>`;
    });
    expect(seen).toEqual(["https://acme.example/t/1", "https://acme.example/help"]);
    expect(out).toBe("Hi! Track (<1>), or <2>.\nBye");
  });

  it("returns the text unchanged when there is no URL", () => {
    const text = "No links here: just {{contact.name}} and a price of $5.";
    expect(rewriteUrls(text, () => "X")).toBe(text);
  });

  it("leaves URLs longer than 2,048 characters untouched, tracks one of exactly 2,048", () => {
    const prefix = "https://acme.example/";
    const atLimit = prefix + "a".repeat(MAX_TRACKED_URL_LENGTH - prefix.length);
    const over = `${atLimit}b`;
    expect(atLimit).toHaveLength(2048);
    expect(rewriteUrls(`${over} and ${atLimit}`, () => "SHORT")).toBe(`${over} and SHORT`);
  });

  it("never wraps a link already under the short-link base", () => {
    const text = `Old ${BASE}/l/Ab3dE5gH9kLm and new https://acme.example/x and ${BASE}/pricing`;
    const out = rewriteUrls(text, () => "NEW", { shortLinkBase: BASE });
    expect(out).toBe(`Old ${BASE}/l/Ab3dE5gH9kLm and new NEW and NEW`);
    expect(isTrackable("HTTPS://SW.EXAMPLE/l/abc", BASE)).toBe(false);
    expect(isTrackable("https://sw.example.evil.com/l/abc", BASE)).toBe(true);
  });

  it("rewrites hrefs in HTML with the decoded URL, leaving img src alone", () => {
    const html = `<a href="https://acme.example/?a=1&amp;b=2"><img src="https://cdn.example/i.png"></a>`;
    const seen: string[] = [];
    const out = rewriteUrls(
      html,
      (url) => {
        seen.push(url);
        return "https://sw.example/l/CODE";
      },
      { html: true },
    );
    expect(seen).toEqual(["https://acme.example/?a=1&b=2"]);
    expect(out).toBe(`<a href="https://sw.example/l/CODE"><img src="https://cdn.example/i.png"></a>`);
  });
});

describe("isLinkCode", () => {
  it("accepts 12 base62 characters only", () => {
    expect(isLinkCode("Ab3dE5gH9kLm")).toBe(true);
    expect(isLinkCode("Ab3dE5gH9kL")).toBe(false);
    expect(isLinkCode("Ab3dE5gH9kLmN")).toBe(false);
    expect(isLinkCode("Ab3dE5gH9kL-")).toBe(false);
    expect(isLinkCode("//evil.com12")).toBe(false);
    expect(isLinkCode("Ab3dE5gH9kL\n")).toBe(false);
    expect(isLinkCode("")).toBe(false);
  });
});
