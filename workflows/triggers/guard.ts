// Owns rollbackGuard: the runbook's "Rollback Triggers → Automatic Triggers" as one long-running workflow per
// service (id guard-<service>). It samples /health and /metrics on durable timers, applies rules.ts, and on a
// trigger starts the configured rollback as a child and notifies (alert-only mode: notifies only).
// Invariants:
//  - one rollback per service at a time: the child's id is the rollback scenario's own business key, so a second
//    trigger (or a manual rollback already running) starts nothing new; the child is abandoned by design (it
//    outlives the guard's continue-as-new and a guard stopped meanwhile);
//  - the child's input is the template plus `trigger` (the rule, the time and the samples that satisfied it);
//  - bounded history: after `samplesPerRun` samples (or when the server suggests it) the guard continues as new,
//    carrying its windows, counters, pause state and recent triggers, so no window restarts at a run boundary;
//  - paused (signal `pause`): no samples are taken; on `resume` every window starts from zero;
//  - the template is validated against the rollback scenario's schema before the first sample.
import {
  ApplicationFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, GuardSample } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { notifyEvent } from '../phases/notify.ts';
import { localProbe } from '../phases/profiles.ts';
import { errorMessage } from '../phases/progress.ts';
import { parseInput, shapeAt } from '../phases/schema.ts';
import { InputError } from '../phases/validation.ts';
import { SCENARIOS } from '../scenarios.ts';
import { guardInput, type GuardInput, type ValidGuardInput } from './guard-input.ts';
import { emptyWindows, observe, samplesFor, type GuardRules, type Point, type Trigger, type Windows } from './rules.ts';

export { guardInput, guardScenario, guardWorkflowId, type GuardInput } from './guard-input.ts';

export interface PauseRequest {
  by?: string;
  reason?: string;
}
export const pauseSignal = defineSignal<[PauseRequest?]>('pause');
export const resumeSignal = defineSignal<[PauseRequest?]>('resume');
export const guardStatusQuery = defineQuery<GuardStatus>('guardStatus');

/** What the child receives as `trigger`, and what the status keeps of each trigger. */
export interface TriggerInfo extends Trigger {
  guardWorkflowId: string;
  service: string;
  /** The guard's sample number (since it started) that fired it. */
  sample: number;
  /** Other rules the same sample satisfied. */
  alsoFired: string[];
}

export interface TriggerRecord {
  kind: Trigger['kind'];
  rule: string;
  at: string;
  sample: number;
  action: 'rollback-started' | 'rollback-already-running' | 'rollback-start-failed' | 'alerted';
  rollbackWorkflowId?: string;
  rollbackRunId?: string;
  error?: string;
  notified?: string;
}

export interface GuardState {
  windows: Windows;
  paused: boolean;
  pausedBy?: string;
  samplesTotal: number;
  triggersTotal: number;
  /** The newest 20 triggers. */
  triggers: TriggerRecord[];
  runs: number;
}

export interface GuardStatus {
  service: string;
  mode: ValidGuardInput['mode'];
  paused: boolean;
  pausedBy?: string;
  rules: GuardRules;
  samplesTotal: number;
  samplesThisRun: number;
  runs: number;
  windows: {
    consecutiveHealthFailures: number;
    healthFailuresToTrigger: number;
    errorRate: { samplesAbove: number; samplesToTrigger: number; lastPercent?: number };
    responseTime: { samplesAbove: number; samplesToTrigger: number; lastMs?: number };
    recent: Point[];
  };
  triggers: TriggerRecord[];
}

export async function rollbackGuard(raw: GuardInput): Promise<never> {
  let input: ValidGuardInput;
  try {
    input = parseInput(guardInput, raw);
  } catch (err) {
    throw invalid(err);
  }
  const rules: GuardRules = {
    intervalSeconds: input.intervalSeconds,
    healthFailures: input.healthFailures,
    errorRatePercent: input.errorRatePercent,
    errorWindowSeconds: input.errorWindowSeconds,
    latencyMs: input.latencyMs,
    latencyWindowSeconds: input.latencyWindowSeconds,
    dbFailures: input.dbFailures,
  };
  const rollback = input.rollback ? resolveRollback(input.rollback) : undefined;
  const metricsUrl = input.metricsUrl ?? input.healthUrl.replace(/\/health(?=$|[?#])/, '/metrics');
  const state: GuardState = (input.carried as GuardState | undefined) ?? {
    windows: emptyWindows(),
    paused: false,
    samplesTotal: 0,
    triggersTotal: 0,
    triggers: [],
    runs: 1,
  };
  let samplesThisRun = 0;

  setHandler(pauseSignal, (req) => {
    state.paused = true;
    state.pausedBy = req?.by ?? 'unknown';
  });
  setHandler(resumeSignal, () => {
    if (!state.paused) return;
    state.paused = false;
    delete state.pausedBy;
    // samples before the pause are not consecutive with those after it
    state.windows = emptyWindows();
  });
  setHandler(guardStatusQuery, (): GuardStatus => {
    const w = state.windows;
    const last = w.recent.at(-1);
    return {
      service: input.service,
      mode: input.mode,
      paused: state.paused,
      ...(state.pausedBy ? { pausedBy: state.pausedBy } : {}),
      rules,
      samplesTotal: state.samplesTotal,
      samplesThisRun,
      runs: state.runs,
      windows: {
        consecutiveHealthFailures: w.consecutiveHealthFailures,
        healthFailuresToTrigger: rules.healthFailures + 1,
        errorRate: {
          samplesAbove: w.errorAbove,
          samplesToTrigger: samplesFor(rules.errorWindowSeconds, rules.intervalSeconds),
          ...(last?.errorRatePercent !== undefined ? { lastPercent: last.errorRatePercent } : {}),
        },
        responseTime: {
          samplesAbove: w.latencyAbove,
          samplesToTrigger: samplesFor(rules.latencyWindowSeconds, rules.intervalSeconds),
          ...(last?.latencyMs !== undefined ? { lastMs: last.latencyMs } : {}),
        },
        recent: w.recent,
      },
      triggers: state.triggers,
    };
  });

  const { sampleGuardedService } = proxyLocalActivities<Activities>(localProbe);
  for (;;) {
    await condition(() => !state.paused);
    // the timer is durable; a pause during it discards the sample it was waiting for
    if (await condition(() => state.paused, rules.intervalSeconds * 1000)) continue;
    let s: GuardSample;
    try {
      s = await sampleGuardedService({ healthUrl: input.healthUrl, metricsUrl });
    } catch (err) {
      const at = new Date().toISOString();
      s = { at, health: { at, ok: false, latencyMs: 0, error: errorMessage(err) }, metricsError: errorMessage(err) };
    }
    if (state.paused) continue;
    state.samplesTotal += 1;
    samplesThisRun += 1;
    const { triggers } = observe(state.windows, s, rules);
    if (triggers.length > 0) await fire(triggers);
    if (samplesThisRun >= input.samplesPerRun || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      const carried: GuardState = { ...state, runs: state.runs + 1 };
      await continueAsNew<typeof rollbackGuard>({ ...(raw as object), carried } as GuardInput);
    }
  }

  async function fire(triggers: Trigger[]): Promise<void> {
    const [first, ...others] = triggers as [Trigger, ...Trigger[]];
    state.triggersTotal += 1;
    const info: TriggerInfo = {
      ...first,
      guardWorkflowId: workflowInfo().workflowId,
      service: input.service,
      sample: state.samplesTotal,
      alsoFired: others.map((t) => t.rule),
    };
    const record: TriggerRecord = {
      kind: first.kind,
      rule: first.rule,
      at: first.at,
      sample: state.samplesTotal,
      action: 'alerted',
    };
    if (input.mode === 'rollback' && rollback) {
      record.rollbackWorkflowId = rollback.workflowId;
      try {
        const child = await startChild(rollback.workflowType, {
          workflowId: rollback.workflowId,
          args: [{ ...rollback.input, trigger: info }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
        });
        record.action = 'rollback-started';
        record.rollbackRunId = child.firstExecutionRunId;
      } catch (err) {
        // (the SDK's WorkflowExecutionAlreadyStartedError; @temporalio/workflow does not export the class)
        if ((err as Error).name === 'WorkflowExecutionAlreadyStartedError') {
          record.action = 'rollback-already-running';
        } else {
          record.action = 'rollback-start-failed';
          record.error = errorMessage(err);
        }
      }
    }
    state.triggers.push(record);
    if (state.triggers.length > 20) state.triggers.shift();
    const what =
      record.action === 'rollback-started'
        ? `rollback ${record.rollbackWorkflowId} started`
        : record.action === 'rollback-already-running'
          ? `rollback ${record.rollbackWorkflowId} already running; nothing new started`
          : record.action === 'rollback-start-failed'
            ? `rollback ${record.rollbackWorkflowId} could NOT be started: ${record.error}`
            : 'alert only, no rollback';
    const n = await notifyEvent(undefined, 'trigger-fired', {
      rollbackType: 'guard',
      target: input.service,
      summary: `${input.service}: ${first.rule} — ${what}`,
      details: {
        trigger: first.kind,
        at: first.at,
        samples: first.evidence.length,
        action: record.action,
        ...(record.rollbackWorkflowId ? { rollback: record.rollbackWorkflowId } : {}),
      },
      key: String(state.triggersTotal),
    });
    record.notified = n.result ? `slack ${n.result.slack}, pagerduty ${n.result.pagerDuty}` : `failed: ${n.error}`;
  }
}

/** The rollback scenario, its validated template and business-key id; refused before the first sample. */
function resolveRollback(r: { scenario: string; input: Record<string, unknown> }) {
  const scenario = SCENARIOS.find((s) => s.name === r.scenario);
  if (!scenario || scenario.name === 'guard')
    throw invalid(new InputError('rollback.scenario', `unknown rollback scenario '${r.scenario}'`));
  if (!('trigger' in shapeAt(scenario.input, [])))
    throw invalid(new InputError('rollback.scenario', `'${r.scenario}' cannot be started by a trigger yet`));
  let valid: unknown;
  try {
    valid = parseInput(scenario.input, r.input, 'rollback.input');
  } catch (err) {
    if (err instanceof InputError && err.field !== 'rollback.input')
      throw invalid(new InputError(`rollback.input.${err.field}`, err.message.replace(/^invalid input: [^:]*: /, '')));
    throw invalid(err);
  }
  return { workflowType: scenario.workflowType, workflowId: scenario.workflowId(valid), input: r.input };
}

function invalid(err: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.InvalidInput,
    message: errorMessage(err),
    nonRetryable: true,
    details: err instanceof InputError ? [{ field: err.field }] : [],
  });
}
