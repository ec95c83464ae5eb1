import type { JobOutcome, SendJob } from "./jobs";
import type { LifecycleContext } from "./message-lifecycle";

// Placeholder while the issue-14 work lands (replaced by its implementation).
export async function runContactImportJob(_ctx: LifecycleContext, job: SendJob): Promise<JobOutcome> {
  throw new Error(`${job.kind} jobs are not implemented yet`);
}
