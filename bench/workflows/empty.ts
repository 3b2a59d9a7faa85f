// Baselines for the load benchmark (bench-only; bundled next to the real workflows by bench/workflows/index.ts):
// an empty workflow (what the dev server and one worker can do at all: one workflow task) and a workflow with
// the Docker rollback's shape (three local then five remote no-op activities, in the same order), which separates
// Temporal's cost per task from the cost of the rollback's own code.
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

export interface NoopActivities {
  noop(): Promise<void>;
}

const remote = proxyActivities<NoopActivities>({ startToCloseTimeout: '30s' });
const local = proxyLocalActivities<NoopActivities>({ startToCloseTimeout: '30s' });

export async function emptyWorkflow(): Promise<string> {
  return 'done';
}

export async function rollbackShapedWorkflow(): Promise<string> {
  await Promise.all([local.noop(), local.noop(), local.noop()]);
  for (let i = 0; i < 5; i++) await remote.noop();
  return 'done';
}
