// Owns the summaries the Web UI shows on activities: each scheduled activity is labelled with the rollback step it
// runs for (the step the current details name as running, progress.ts currentDetails), e.g. "stop-current-container".
// Registered as a workflow interceptor module by workers/bundle.ts. A summary is user metadata on the command, not
// part of its identity: replay of histories recorded without it is unaffected (test/unit/replay.test.ts).
import { getCurrentDetails, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

const RUNNING_STEP = /\*\*step:\*\* (.+?), running since/;

function label(activityType: string, given: string | undefined): string | undefined {
  if (given) return given;
  const step = RUNNING_STEP.exec(getCurrentDetails())?.[1];
  return step ? `${step}: ${activityType}` : undefined;
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      scheduleActivity(input, next) {
        const summary = label(input.activityType, input.options.summary);
        return next(summary ? { ...input, options: { ...input.options, summary } } : input);
      },
      scheduleLocalActivity(input, next) {
        const summary = label(input.activityType, input.options.summary);
        return next(summary ? { ...input, options: { ...input.options, summary } } : input);
      },
    },
  ],
});
