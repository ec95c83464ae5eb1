import { describe, expect, it } from "vitest";
import { canAdvance, isFinal, retryDelaySeconds } from "../../src/domain/message-status";

describe("message status machine", () => {
  it("moves forward only", () => {
    expect(canAdvance("queued", "sending")).toBe(true);
    expect(canAdvance("sent", "delivered")).toBe(true);
    expect(canAdvance("sent", "read")).toBe(true);
    expect(canAdvance("read", "sent")).toBe(false);
    expect(canAdvance("read", "delivered")).toBe(false);
    expect(canAdvance("delivered", "delivered")).toBe(false);
    expect(canAdvance("sent", "failed")).toBe(true);
    expect(canAdvance("failed", "delivered")).toBe(false);
    expect(canAdvance("canceled", "queued")).toBe(false);
    expect(canAdvance("undelivered", "read")).toBe(false);
    // read is final: a contradicting failure afterwards moves nothing (issue 12, point 4)
    expect(canAdvance("read", "failed")).toBe(false);
    expect(canAdvance("read", "undelivered")).toBe(false);
    expect(isFinal("read")).toBe(true);
    expect(isFinal("sent")).toBe(false);
  });

  it("backs off exponentially, capped, honouring Retry-After", () => {
    expect([1, 2, 3, 4].map((a) => retryDelaySeconds(a, 2))).toEqual([2, 4, 8, 16]);
    expect(retryDelaySeconds(20, 2)).toBe(900);
    expect(retryDelaySeconds(1, 2, 30)).toBe(30);
    expect(retryDelaySeconds(1, 2, 99_999)).toBe(3600);
    expect(retryDelaySeconds(3, 0)).toBe(0);
  });
});
