import { createApp } from "./app";
import { runScheduled } from "./cron";
import type { Env } from "./env";
import type { SendJob } from "./queues/jobs";
import { consumeSends, consumeSendsDeadLetters } from "./queues/send-message";

export { KeyGate } from "./durable-objects/key-gate";

const app = createApp();

export default {
  fetch: app.fetch,

  async queue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
    switch (batch.queue) {
      case "sendwire-sends":
        return consumeSends(batch as MessageBatch<SendJob>, env);
      case "sendwire-sends-dlq":
        return consumeSendsDeadLetters(batch as MessageBatch<SendJob>, env);
      default:
        // No consumer for this queue yet (webhooks come next): keep the messages rather than drop them.
        console.warn("no consumer for queue", batch.queue);
        batch.retryAll({ delaySeconds: 60 });
    }
  },

  async scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    ctx.waitUntil(
      runScheduled(env, new Date(controller.scheduledTime)).then((result) =>
        console.log("cron tick", result),
      ),
    );
  },
} satisfies ExportedHandler<Env>;
