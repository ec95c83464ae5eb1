import { describe, expect, it } from "vitest";
import {
  displayPrefix,
  generateKeySecret,
  hashKeySecret,
  keyStatus,
  missingScopes,
  parseKeyEnvironment,
} from "../../src/domain/api-keys";

describe("api key rules", () => {
  it("generates 32-byte base64url secrets with an environment prefix", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const { secret, prefix } = generateKeySecret("live");
      expect(secret).toMatch(/^sw_live_[A-Za-z0-9_-]{43}$/);
      expect(prefix).toBe(secret.slice(0, 14));
      seen.add(secret);
    }
    expect(seen.size).toBe(50);
    expect(generateKeySecret("test").secret.startsWith("sw_test_")).toBe(true);
  });

  it("parses only well-formed keys", () => {
    expect(parseKeyEnvironment(`sw_test_${"a".repeat(43)}`)).toBe("test");
    expect(parseKeyEnvironment(`sw_live_${"a".repeat(43)}`)).toBe("live");
    for (const bad of [
      "",
      "sw_test_",
      `sw_dev_${"a".repeat(43)}`,
      `sw_test_${"a".repeat(42)}`,
      `sw_test_${"a".repeat(42)}!`,
    ]) {
      expect(parseKeyEnvironment(bad)).toBeNull();
    }
  });

  it("hashes with SHA-256 hex (matches a known vector)", async () => {
    expect(await hashKeySecret("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("computes missing scopes and status", () => {
    expect(missingScopes(["a", "b"], ["b", "c", "d"])).toEqual(["c", "d"]);
    expect(missingScopes(["a"], [])).toEqual([]);
    const now = new Date("2026-01-01T00:00:00Z");
    expect(keyStatus({ revokedAt: null, expiresAt: null }, now)).toBe("active");
    expect(keyStatus({ revokedAt: null, expiresAt: new Date("2025-12-31T23:59:59Z") }, now)).toBe("expired");
    expect(keyStatus({ revokedAt: now, expiresAt: null }, now)).toBe("revoked");
    expect(displayPrefix("sw_test_abcdefghij")).toBe("sw_test_abcdef");
  });
});
