import { and, asc, eq, gt, inArray } from "drizzle-orm";
import { createDb } from "../db/client";
import { type BroadcastRow, events } from "../db/schema";
import type { Env } from "../env";
import { describeError } from "../errors";
import { broadcastCounts, loadBroadcast } from "../queues/broadcast-state";

/**
 * GET /v1/broadcasts/{id}/events as Server-Sent Events. Status changes come from the broadcast's own webhook
 * events (their `sequence` is the SSE id, so `Last-Event-ID` replays exactly the changes a client missed);
 * progress is the counts read each second. The stream ends after the final status, or after
 * MAX_STREAM_MS (the client reconnects with Last-Event-ID).
 */

const TICK_MS = 1_000;
const MAX_STREAM_MS = 10 * 60_000;
const STATUS_TYPES = [
  "broadcast.started",
  "broadcast.paused",
  "broadcast.resumed",
  "broadcast.completed",
  "broadcast.canceled",
  "broadcast.failed",
];
const FINAL: Record<string, string> = {
  "broadcast.completed": "completed",
  "broadcast.canceled": "canceled",
  "broadcast.failed": "failed",
};

const frame = (id: number, event: string, data: unknown) =>
  `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export function broadcastEventStream(env: Env, row: BroadcastRow, lastSeq: number): Response {
  const db = createDb(env.DB);
  const encoder = new TextEncoder();
  let closed = false;
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const began = Date.now();
      let seq = lastSeq;
      let lastProgress = "";
      const send = (text: string) => controller.enqueue(encoder.encode(text));
      send("retry: 2000\n\n");
      try {
        while (!closed && Date.now() - began < MAX_STREAM_MS) {
          const changes = await db
            .select({ sequence: events.sequence, type: events.type, data: events.data })
            .from(events)
            .where(
              and(
                eq(events.subjectId, row.id),
                eq(events.tenantId, row.tenantId),
                gt(events.sequence, seq),
                inArray(events.type, STATUS_TYPES),
              ),
            )
            .orderBy(asc(events.sequence))
            .limit(50);
          for (const change of changes) {
            seq = change.sequence;
            const final = FINAL[change.type];
            send(frame(seq, final ?? "status", { type: change.type, ...change.data }));
            if (final) {
              closed = true;
              break;
            }
          }
          if (closed) break;
          const current = await loadBroadcast(db, row.id);
          if (!current) break;
          const counts = await broadcastCounts(db, current);
          const progress = JSON.stringify({ id: current.id, status: current.status, counts });
          // Every second while it runs (a heartbeat too); otherwise only when something moved.
          if (current.status === "running" || progress !== lastProgress)
            send(frame(seq, "progress", JSON.parse(progress)));
          lastProgress = progress;
          await new Promise((resolve) => setTimeout(resolve, TICK_MS));
        }
      } catch (error) {
        console.error("broadcast event stream failed", { broadcast: row.id, error: describeError(error) });
      }
      if (!closed) closed = true;
      controller.close();
    },
    cancel() {
      closed = true;
    },
  });
  return new Response(stream, {
    status: 200,
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}
