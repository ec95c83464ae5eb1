import { createApp } from "./app";
import { runScheduled } from "./cron";
import type { Env } from "./env";
import { describeError } from "./errors";
import { consumeWebhookDeadLetters, consumeWebhooks } from "./queues/deliver-webhook";
import type { SendJob } from "./queues/jobs";
import { consumeSends, consumeSendsDeadLetters } from "./queues/send-message";
import type { WebhookJob } from "./webhooks/queue";

export { BroadcastRunner } from "./durable-objects/broadcast-runner";
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
      case "sendwire-webhooks":
        return consumeWebhooks(batch as MessageBatch<WebhookJob>, env);
      case "sendwire-webhooks-dlq":
        return consumeWebhookDeadLetters(batch as MessageBatch<WebhookJob>);
      default:
        // A queue this build does not know (e.g. a rename mid-deploy): keep the messages, don't drop them.
        console.warn("no consumer for queue", batch.queue);
        batch.retryAll({ delaySeconds: 60 });
    }
  },

  async scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    // runScheduled isolates its phases (a failed one is logged and named in failedPhases); the catch is
    // only a last guard, so a tick never ends in an unhandled rejection.
    ctx.waitUntil(
      runScheduled(env, new Date(controller.scheduledTime)).then(
        (result) => console.log("cron tick", result),
        (error) => console.error("cron tick failed", { error: describeError(error) }),
      ),
    );
  },
} satisfies ExportedHandler<Env>;
