import { z } from "@hono/zod-openapi";
import type { EventRow } from "../db/schema";
import { eventPayload } from "../webhooks/payload";
import { Timestamp } from "./shared";

export const EventSchema = z
  .object({
    object: z.literal("event"),
    id: z.string().openapi({ example: "evt_01jd3x6n2m8q4v7w9y0z1a2b3c" }),
    type: z.string().openapi({ example: "message.delivered" }),
    api_version: z.string(),
    created_at: Timestamp,
    environment: z.enum(["live", "test"]),
    data: z.record(z.string(), z.unknown()).openapi({ description: "The object the event is about." }),
    sequence: z
      .number()
      .int()
      .openapi({ description: "Rises by one per event about the same object (e.g. one message)." }),
  })
  .openapi("Event");

/** The event as a receiver gets it (the webhook body), marked as an API object. */
export function renderEvent(row: EventRow, apiVersion: string): z.infer<typeof EventSchema> {
  return { object: "event", ...eventPayload(row, apiVersion) };
}
