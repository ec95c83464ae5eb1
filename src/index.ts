import { createApp } from "./app";
import { runScheduled } from "./cron";
import type { Env } from "./env";

export { KeyGate } from "./durable-objects/key-gate";

const app = createApp();

export default {
  fetch: app.fetch,

  async queue(batch: MessageBatch<unknown>): Promise<void> {
    // No consumer is registered for this queue yet: keep the messages (retry) rather than drop them.
    console.warn("no consumer for queue", batch.queue);
    batch.retryAll({ delaySeconds: 60 });
  },

  async scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    ctx.waitUntil(
      runScheduled(env, new Date(controller.scheduledTime)).then((result) =>
        console.log("cron tick", result),
      ),
    );
  },
} satisfies ExportedHandler<Env>;
