import type { EventRow } from "../db/schema";

/**
 * The JSON a receiver gets, and what `GET /v1/events/{id}` shows. Built from the stored event the same
 * way on every attempt, so retries and replays carry byte-identical bodies.
 */
export function eventPayload(event: EventRow, apiVersion: string) {
  return {
    id: event.id,
    type: event.type,
    api_version: apiVersion,
    created_at: event.createdAt.toISOString(),
    environment: event.environment,
    data: event.data,
    sequence: event.sequence,
  };
}

export type EventPayload = ReturnType<typeof eventPayload>;
