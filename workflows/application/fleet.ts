// Owns the fleet rollback (`fleetRollback`): one container image rolled back on many hosts, in waves (canary first),
// with AWS SSM's MaxConcurrency / MaxErrors, one approval for the whole fleet, and each target's rollback as the
// Docker rollback (dockerContainerRollback) run as a child with its activities on the target host's task queue.
// Invariants:
//  - nothing changes before the input is valid, the targets are resolved (a label selector is a read-only listing
//    on each host's queue) and the fleet is approved once (the application policy); each child carries that
//    approval as its pre-approval (the approver and role who decided, as the emergency dispatcher does), so no
//    child waits for a second one;
//  - a child's id is the Docker rollback's business key (rollback-docker-<host>-<container>): a target another
//    rollback is already working on is not touched and counts as an error ('conflict');
//  - waves run in order; within a wave at most maxConcurrency children run; once errors exceed maxErrors (or on
//    `abort`) no new target starts, the running ones finish (each undoes itself on failure), the rest is skipped;
//    `pause` holds new starts until `resume`; the pause between waves is a durable timer;
//  - halt-and-revert: each target this fleet changed runs a new Docker rollback child back to the image it ran
//    before (the finished children have removed their preserved containers, so their own undo is gone; a new child
//    preserves, verifies and undoes on failure like any rollback);
//  - children are cancelled, never terminated, when the fleet closes (ParentClosePolicy.REQUEST_CANCEL): each undoes.
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  condition,
  defineSignal,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, LabelledContainer } from '../../activities/index.ts';
import { hostTaskQueue } from '../../common/config.ts';
import { FailureType } from '../../common/failures.ts';
import { ApprovalGate, awaitApproval, type ApprovalRecord } from '../phases/approval.ts';
import { beforeAnyChange, fail, failedBeforeAnyChange, innerFailure, invalidInput } from '../phases/failures.ts';
import { quick } from '../phases/profiles.ts';
import { errorMessage, Progress, type StepRecord } from '../phases/progress.ts';
import { withLifecycleNotifications, type RollbackNotifications } from '../phases/notify.ts';
import { defineScenario, runOf, who } from '../phases/scenario.ts';
import {
  approvalInput,
  checked,
  int,
  monitorInput,
  oneOf,
  parseInput,
  scenarioInput,
  bool,
  whoFields,
  z,
} from '../phases/schema.ts';
import {
  InputError,
  show,
  validateContainerName,
  validateHost,
  validateHttpUrl,
  validateImageRef,
} from '../phases/validation.ts';
import {
  dockerContainerRollback,
  dockerRollbackWorkflowId,
  type DockerRollbackInput,
  type DockerRollbackResult,
} from './docker-container.ts';
import {
  fleetDetails,
  parseAmount,
  parseWaves,
  planWaves,
  resolveAmount,
  showAmount,
  validateFleetName,
  MAX_FLEET_TARGETS,
  type Amount,
  type FleetStatus,
  type FleetTarget,
  type FleetWave,
  type WaveSpec,
} from './fleet-plan.ts';

const requiredHost = (v: unknown, f: string): string => {
  const h = validateHost(v, f);
  if (!h) throw new InputError(f, 'is required (the host whose worker serves cortex-rollback-host-<host>)');
  return h;
};

const LABEL = /^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,126}(=[^\s,=]{0,255})?$/;

const targetInput = scenarioInput({
  host: checked<string>(requiredHost),
  container: checked<string>((v, f) => validateContainerName(v, f)),
  healthUrl: checked<string>((v, f) => validateHttpUrl(v, f)),
});

/** The input, declared once: type, validation (first act of the workflow), CLI flags and README table. */
export const fleetRollbackInput = scenarioInput({
  name: checked<string>(validateFleetName)
    .describe("the fleet's name (business key: rollback-fleet-<name>), e.g. the service")
    .meta({ value: 'NAME', example: 'cortex-mcp' }),
  targetImage: checked<string>((v, f) => validateImageRef(v, f))
    .describe('the image every target rolls back to: name:tag or name@sha256:digest, not latest')
    .meta({ flag: 'image', value: 'IMAGE:TAG', example: 'cortex-memory-mcp:v2.0.0' }),
  targets: z
    .array(targetInput)
    .min(1)
    .max(MAX_FLEET_TARGETS)
    .optional()
    .describe(
      'the targets, in order: [{"host":"h1","container":"cortex-mcp","healthUrl":"http://127.0.0.1:3000/health"}]',
    )
    .meta({ format: 'json', value: 'JSON' }),
  selector: scenarioInput({
    label: checked<string>((v, f) => {
      if (typeof v !== 'string' || !LABEL.test(v)) throw new InputError(f, `${show(v)} is not key or key=value`);
      return v;
    })
      .describe(
        "instead of targets: the running containers with this Docker label (key or key=value) on each host; {host} in it is the host's name",
      )
      .meta({ flag: 'label', value: 'KEY=VALUE', example: 'app=cortex-mcp' }),
    hosts: z
      .array(checked<string>(requiredHost))
      .min(1)
      .max(100)
      .describe('the hosts to look on (repeat the flag), each listed through its own worker')
      .meta({ flag: 'on-host', value: 'HOST' }),
    healthUrl: checked<string | undefined, string>((v, f) => {
      if (v === undefined) return undefined;
      validateHttpUrl(typeof v === 'string' ? v.replaceAll('{host}', 'h').replaceAll('{container}', 'c') : v, f);
      return v as string;
    })
      .optional()
      .describe(
        "the health URL of a container without a 'cortex.health-url' label; {host} and {container} are filled in",
      )
      .meta({ flag: 'health-url-template', value: 'URL' }),
  })
    .optional()
    .describe('find the targets by label'),
  waves: checked<WaveSpec[], string | string[]>(parseWaves)
    .prefault('canary:1,25%,rest')
    .describe(
      'the waves, in order: [name:]N targets, [name:]P% of all targets, or rest; targets left over form a last wave',
    )
    .meta({ value: 'WAVES', defaultText: 'canary:1,25%,rest' }),
  maxConcurrency: checked<Amount, string | number>((v, f) => parseAmount(v, f, 1))
    .prefault('10')
    .describe('at most this many targets roll back at once within a wave: a count or a percent (rounded up)')
    .meta({ value: 'N|P%', defaultText: '10' }),
  maxErrors: checked<Amount, string | number>((v, f) => parseAmount(v, f, 0))
    .prefault('0')
    .describe(
      'once more targets than this have failed, no new target starts (the running ones finish): a count or a percent (rounded down)',
    )
    .meta({ value: 'N|P%', defaultText: '0' }),
  pauseBetweenWavesSeconds: int(0, 7 * 86400)
    .default(60)
    .describe('bake time between waves (a durable timer; `pause` holds the next wave longer)')
    .meta({ flag: 'pause-between-waves', value: 'S' }),
  onFailure: oneOf(['halt', 'halt-and-revert'], "must be 'halt' or 'halt-and-revert'")
    .default('halt')
    .describe(
      'after a halt (errors over maxErrors, or abort): stop, or stop and roll the finished targets forward again',
    )
    .meta({ flag: 'on-failure' }),
  ...whoFields,
  stopTimeoutSeconds: int(0, 240)
    .default(10)
    .describe("each target's grace period when stopping its current container (seconds)")
    .meta({ flag: 'stop-timeout', value: 'S' }),
  verifyTimeoutSeconds: int(1, 3600)
    .default(60)
    .describe('how long each target may take to answer healthy (seconds)')
    .meta({ flag: 'verify-timeout', value: 'S' }),
  monitor: monitorInput({ durationSeconds: 300, intervalSeconds: 30, failureThreshold: 3 }).describe(
    "each target's health watch after its change (part of the child; the wave waits for it)",
  ),
  approval: approvalInput('application'),
  searchAttributes: bool()
    .default(false)
    .describe('upsert the Rollback* search attributes (the CLI sets it from CORTEX_SEARCH_ATTRIBUTES)')
    .meta({ cli: false }),
}).superRefine((i, ctx) => {
  if ((i.targets === undefined) === (i.selector === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['targets'], message: 'give either targets or selector (exactly one)' });
    return;
  }
  const seen = new Set<string>();
  i.targets?.forEach((t, n) => {
    const key = `${t.host}/${t.container}`;
    if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['targets', n], message: `${key} is listed twice` });
    seen.add(key);
  });
  const hosts = i.selector?.hosts ?? [];
  const dup = hosts.find((h, n) => hosts.indexOf(h) !== n);
  if (dup) ctx.addIssue({ code: 'custom', path: ['selector', 'hosts'], message: `host '${dup}' is listed twice` });
});

export type FleetRollbackInput = z.input<typeof fleetRollbackInput>;
type Valid = z.output<typeof fleetRollbackInput>;

export function fleetWorkflowId(name: string): string {
  return `rollback-fleet-${name}`;
}

export const fleetScenario = defineScenario({
  name: 'fleet',
  workflowType: 'fleetRollback',
  category: 'application',
  runbook: 'Application Rollback → Scenario 1, across hosts in waves',
  summary:
    'one approval, then the Docker rollback of every target as a child on its host, in waves with max concurrency and an error budget; halt or halt and revert',
  input: fleetRollbackInput,
  summarize: (i) =>
    `roll back fleet ${i.name} (${i.targets ? `${i.targets.length} targets` : `label ${i.selector?.label} on ${i.selector?.hosts.length} hosts`}) → ${i.targetImage}`,
  workflowId: (i) => fleetWorkflowId(i.name),
  runAttributes: (i) => ({ service: `fleet:${i.name}`, targetVersion: i.targetImage, ...who(i) }),
});

export interface FleetControl {
  by?: string;
  reason?: string;
}
/** No new target starts until `resume`; running ones go on. */
export const fleetPauseSignal = defineSignal<[FleetControl?]>('pause');
export const fleetResumeSignal = defineSignal<[FleetControl?]>('resume');
/** No new target starts; running ones finish; then the fleet halts as `onFailure` says (revert included). */
export const fleetAbortSignal = defineSignal<[FleetControl?]>('abort');

export interface FleetRollbackResult {
  outcome: 'succeeded' | 'completed-with-errors' | 'halted' | 'rejected' | 'approval-timed-out';
  workflowId: string;
  runId: string;
  name: string;
  targetImage: string;
  reason: string;
  requestedBy: string;
  onFailure: Valid['onFailure'];
  maxConcurrency: number;
  maxErrors: number;
  errors: number;
  waves: FleetWave[];
  targets: FleetTarget[];
  halted?: { at: string; reason: string };
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
  startedAt: string;
  endedAt: string;
}

/** A child that waits this long for an approval means its pre-approval was refused: it ends not approved. */
const CHILD_APPROVAL_SECONDS = 300;

const now = (): string => new Date().toISOString();

export function fleetRollback(raw: FleetRollbackInput): Promise<FleetRollbackResult> {
  return withLifecycleNotifications((notifications) => runFleetRollback(raw, notifications));
}

async function runFleetRollback(
  raw: FleetRollbackInput,
  notifications: RollbackNotifications,
): Promise<FleetRollbackResult> {
  const info = workflowInfo();
  const startedAt = now();
  const fleetName = typeof raw?.name === 'string' ? raw.name : '?';
  const progress = new Progress('application', `fleet:${fleetName}`);
  const approvals = progress.status.approvals;
  const gate = new ApprovalGate('application', approvals); // signals count from the very start
  const fleet: FleetStatus = {
    name: fleetName,
    targetImage: '?',
    onFailure: 'halt',
    maxConcurrency: 0,
    maxErrors: 0,
    errors: 0,
    errorBudgetLeft: 0,
    running: 0,
    waves: [],
    targets: [],
  };
  progress.status.fleet = fleet;
  const refresh = (): void => {
    fleet.errorBudgetLeft = Math.max(0, fleet.maxErrors - fleet.errors);
    progress.detailsExtra = fleetDetails(fleet);
    progress.refreshDetails();
  };
  const who = (c: FleetControl | undefined) => ({
    by: typeof c?.by === 'string' && c.by !== '' ? c.by : 'unknown',
    at: now(),
    ...(typeof c?.reason === 'string' && c.reason !== '' ? { reason: c.reason } : {}),
  });
  setHandler(fleetPauseSignal, (c) => {
    fleet.paused ??= who(c);
    refresh();
  });
  setHandler(fleetResumeSignal, () => {
    delete fleet.paused;
    refresh();
  });
  setHandler(fleetAbortSignal, (c) => {
    fleet.aborted ??= who(c);
    refresh();
  });

  let input: Valid;
  try {
    input = parseInput(fleetRollbackInput, raw);
  } catch (err) {
    throw invalidInput(progress, err);
  }
  fleet.targetImage = input.targetImage;
  fleet.onFailure = input.onFailure;
  progress.searchAttributesEnabled = input.searchAttributes;
  progress.publishSearchAttributes(runOf(fleetScenario, input), {
    service: `fleet:${input.name}`,
    targetVersion: input.targetImage,
    trigger: input.reason,
    requestedBy: input.requestedBy,
  });
  await notifications.started(progress, fleetScenario, input);
  progress.note('validate-input', 'completed');

  // 1. The targets (read-only): as given, or found by label on each host through that host's worker.
  progress.setPhase('resolving-targets');
  const resolved = input.targets
    ? input.targets
    : await beforeAnyChange(progress, () =>
        progress.step(
          'resolve-targets',
          () => resolveSelector(input.selector!),
          (ts) => `${ts.length} running containers labelled ${input.selector!.label}`,
        ),
      );
  if (resolved.length === 0) {
    throw failedBeforeAnyChange(
      progress,
      fail(
        FailureType.NotFound,
        `no running container labelled ${input.selector?.label} on ${input.selector?.hosts.join(', ')}`,
      ),
    );
  }
  const plan = planWaves(input.waves, resolved.length);
  fleet.maxConcurrency = resolveAmount(input.maxConcurrency, resolved.length, 'up');
  fleet.maxErrors = resolveAmount(input.maxErrors, resolved.length, 'down');
  fleet.waves = plan.map((w) => ({ name: w.name, spec: w.spec, targets: w.end - w.first, state: 'pending' }));
  fleet.targets = resolved.map((t, n) => ({
    ...t,
    wave: plan.find((w) => n >= w.first && n < w.end)!.name,
    phase: 'pending',
    childWorkflowId: dockerRollbackWorkflowId(t.container, t.host),
  }));
  progress.note(
    'plan-waves',
    'completed',
    `${resolved.length} targets: ${plan.map((w) => `${w.name} ${w.end - w.first}`).join(' → ')}; ` +
      `max ${fleet.maxConcurrency} at once (${showAmount(input.maxConcurrency)}), ` +
      `max ${fleet.maxErrors} error(s) (${showAmount(input.maxErrors)}), on failure ${input.onFailure}`,
  );
  refresh();

  const base = {
    workflowId: info.workflowId,
    runId: info.runId,
    name: input.name,
    targetImage: input.targetImage,
    reason: input.reason,
    requestedBy: input.requestedBy,
    onFailure: input.onFailure,
    maxConcurrency: fleet.maxConcurrency,
    maxErrors: fleet.maxErrors,
    approvals,
    timeline: progress.status.steps,
    startedAt,
  };
  const finish = (outcome: FleetRollbackResult['outcome']): FleetRollbackResult => ({
    ...base,
    outcome,
    errors: fleet.errors,
    waves: fleet.waves,
    targets: fleet.targets,
    ...(fleet.halted ? { halted: fleet.halted } : {}),
    endedAt: now(),
  });

  // 2. One approval for the fleet.
  const decision = await awaitApproval(progress, gate, { ...input.approval, requestedBy: input.requestedBy });
  if (decision.decision !== 'approved') {
    for (const t of fleet.targets) t.phase = 'skipped';
    for (const w of fleet.waves) w.state = 'skipped';
    progress.setPhase(decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out');
    refresh();
    return finish(decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out');
  }
  const approvedBy = decision.by;

  const childInput = (t: FleetTarget, image: string, reason: string): DockerRollbackInput => ({
    containerName: t.container,
    targetImage: image,
    healthUrl: t.healthUrl,
    host: t.host,
    reason,
    requestedBy: input.requestedBy,
    stopTimeoutSeconds: input.stopTimeoutSeconds,
    verifyTimeoutSeconds: input.verifyTimeoutSeconds,
    monitor: input.monitor,
    approval: {
      timeoutSeconds: CHILD_APPROVAL_SECONDS,
      ...(input.approval.expectedImpactMinutes ? { expectedImpactMinutes: input.approval.expectedImpactMinutes } : {}),
      preApproved: {
        approver: approvedBy.approver,
        role: approvedBy.role,
        comment: `fleet ${info.workflowId}: approved via ${approvedBy.via} at ${approvedBy.at}`,
      },
    },
    searchAttributes: input.searchAttributes,
  });

  /** Runs one Docker rollback child to the end; never throws (the outcome is in what it returns). */
  const runChild = async (
    t: FleetTarget,
    image: string,
    reason: string,
    onStarted: (runId: string) => void,
  ): Promise<
    | { kind: 'result'; result: DockerRollbackResult }
    | { kind: 'conflict'; detail: string }
    | { kind: 'failed'; detail: string; type?: string; result?: DockerRollbackResult }
  > => {
    let handle;
    try {
      handle = await startChild(dockerContainerRollback, {
        workflowId: t.childWorkflowId,
        args: [childInput(t, image, reason)],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      });
    } catch (err) {
      // (the SDK's WorkflowExecutionAlreadyStartedError; @temporalio/workflow does not export the class)
      if ((err as Error).name === 'WorkflowExecutionAlreadyStartedError') {
        return {
          kind: 'conflict',
          detail: `another rollback of ${t.host}/${t.container} is running (workflow ${t.childWorkflowId}); this target was not touched`,
        };
      }
      return { kind: 'failed', detail: `could not start ${t.childWorkflowId}: ${errorMessage(err)}` };
    }
    onStarted(handle.firstExecutionRunId);
    try {
      return { kind: 'result', result: await handle.result() };
    } catch (err) {
      const cause = err instanceof ChildWorkflowFailure ? (err.cause ?? err) : err;
      const inner = innerFailure(cause);
      const details = inner?.details?.[0] as DockerRollbackResult | undefined;
      return {
        kind: 'failed',
        detail: errorMessage(cause),
        ...(inner?.type ? { type: inner.type } : {}),
        // a breached watch leaves the target on the new image: its result comes as the failure's details
        ...(details && typeof details === 'object' && 'from' in details ? { result: details } : {}),
      };
    }
  };

  const halting = (): boolean => fleet.aborted !== undefined || fleet.errors > fleet.maxErrors;
  /** When the last target the fleet changed was verified healthy (its child's step marked `restores`). */
  let lastRestore: string | undefined;

  const rollBack = async (t: FleetTarget): Promise<void> => {
    t.phase = 'running';
    t.startedAt = now();
    fleet.running += 1;
    refresh();
    const r = await runChild(t, input.targetImage, `fleet ${info.workflowId}: ${input.reason}`, (runId) => {
      t.childRunId = runId;
    });
    fleet.running -= 1;
    t.endedAt = now();
    if (r.kind === 'result') {
      const res = r.result;
      if (res.outcome === 'succeeded' || res.outcome === 'already-on-target') {
        t.phase = res.outcome;
        if (res.outcome === 'succeeded') t.from = { image: res.from.image, imageId: res.from.imageId };
        const restoredAt = res.timeline.find((s) => s.restores)?.endedAt;
        if (restoredAt && (lastRestore === undefined || restoredAt > lastRestore)) lastRestore = restoredAt;
        t.to = { image: res.to.image, imageId: res.to.imageId };
      } else {
        t.phase = 'failed';
        t.detail = `the child ended '${res.outcome}': the fleet's pre-approval was not accepted; nothing was changed`;
        fleet.errors += 1;
      }
    } else {
      t.phase = r.kind;
      t.detail = r.detail;
      if (r.kind === 'failed' && r.type) t.failureType = r.type;
      if (r.kind === 'failed' && r.result) t.from = { image: r.result.from.image, imageId: r.result.from.imageId };
      fleet.errors += 1;
    }
    refresh();
  };

  /** Runs `fn` over `items`, at most `limit` at once; no new start while `hold()`, none at all once `stop()`. */
  const pool = async <T>(
    items: T[],
    limit: number,
    fn: (x: T) => Promise<void>,
    stop: () => boolean,
    hold: () => boolean,
  ) => {
    const running = new Set<Promise<void>>();
    for (const x of items) {
      await condition(() => stop() || (!hold() && running.size < limit));
      if (stop()) break;
      const p: Promise<void> = fn(x).finally(() => running.delete(p));
      running.add(p);
    }
    await Promise.all(running);
  };

  // 3. The waves.
  progress.setPhase('rolling-back');
  for (const [n, w] of plan.entries()) {
    const wave = fleet.waves[n]!;
    if (halting()) break;
    const targets = fleet.targets.slice(w.first, w.end);
    wave.state = 'running';
    wave.startedAt = now();
    refresh();
    await progress.step(
      `wave ${n + 1} ${w.name}`,
      () => pool(targets, fleet.maxConcurrency, rollBack, halting, () => fleet.paused !== undefined),
      () => {
        const c = (p: string) => targets.filter((t) => t.phase === p).length;
        return `${c('succeeded') + c('already-on-target')}/${targets.length} done, ${c('failed') + c('conflict')} failed`;
      },
    );
    wave.endedAt = now();
    wave.state = targets.some((t) => t.phase === 'pending') ? 'halted' : 'completed';
    refresh();
    const next = plan[n + 1];
    if (next && !halting() && input.pauseBetweenWavesSeconds > 0) {
      fleet.nextWave = {
        name: next.name,
        notBefore: new Date(Date.now() + input.pauseBetweenWavesSeconds * 1000).toISOString(),
      };
      refresh();
      await progress.step(`pause before ${next.name}`, () =>
        condition(() => fleet.aborted !== undefined, input.pauseBetweenWavesSeconds * 1000, {
          summary: `bake time before wave ${next.name}`,
        }),
      );
      delete fleet.nextWave;
      refresh();
    }
  }
  for (const t of fleet.targets) {
    if (t.phase === 'pending') {
      t.phase = 'skipped';
      t.detail = 'never started: the fleet halted first';
    }
  }
  for (const w of fleet.waves) if (w.state === 'pending') w.state = 'skipped';

  if (!halting()) {
    if (fleet.errors === 0 && lastRestore)
      progress.noteRestored('all-targets-restored', lastRestore, 'the last changed target verified healthy');
    // Some targets failed within the error budget: not a success in the metrics (it counted as one before).
    const withErrors = fleet.errors > 0 && patched('fleet-completed-with-errors-phase');
    progress.setPhase(withErrors ? 'completed-with-errors' : 'completed');
    refresh();
    return finish(fleet.errors === 0 ? 'succeeded' : 'completed-with-errors');
  }

  // 4. Halted: say why; with halt-and-revert, roll every target this fleet changed forward to what it ran before.
  fleet.halted = {
    at: now(),
    reason: fleet.aborted
      ? `aborted by ${fleet.aborted.by}${fleet.aborted.reason ? `: ${fleet.aborted.reason}` : ''}`
      : `${fleet.errors} target(s) failed, more than maxErrors ${fleet.maxErrors}`,
  };
  progress.note('halt', 'completed', fleet.halted.reason);
  refresh();
  const changed = fleet.targets.filter((t) => t.from !== undefined);
  let revertFailures = 0;
  if (input.onFailure === 'halt-and-revert' && changed.length > 0) {
    progress.setPhase('reverting');
    const revert = async (t: FleetTarget): Promise<void> => {
      const from = t.from!;
      t.phase = 'reverting';
      t.revert = { startedAt: now() };
      refresh();
      const r = await runChild(t, from.image, `revert of fleet ${info.workflowId}: ${fleet.halted!.reason}`, (id) => {
        t.revert!.runId = id;
      });
      t.revert.endedAt = now();
      if (r.kind === 'result' && (r.result.outcome === 'succeeded' || r.result.outcome === 'already-on-target')) {
        t.phase = 'reverted';
        t.revert.outcome = 'reverted';
        t.revert.detail =
          r.result.to.imageId === from.imageId
            ? `runs ${from.image} again`
            : `runs ${from.image} again, but that tag is now image ${r.result.to.imageId.slice(7, 19)}, not ${from.imageId.slice(7, 19)} as before`;
      } else {
        revertFailures += 1;
        t.phase = 'revert-failed';
        t.revert.outcome = 'revert-failed';
        t.revert.detail =
          r.kind === 'result'
            ? `the revert ended '${r.result.outcome}'; ${t.host}/${t.container} still runs ${input.targetImage}`
            : `${r.detail}; ${t.host}/${t.container} keeps what that rollback left (see ${t.childWorkflowId})`;
      }
      refresh();
    };
    await progress.step(
      'revert finished targets',
      () =>
        pool(
          changed,
          fleet.maxConcurrency,
          revert,
          () => false,
          () => false,
        ),
      () => `${changed.length - revertFailures}/${changed.length} back on their previous image`,
    );
  }
  // a child whose own undo failed left its target for a human, as a failed revert does
  const undoFailed = revertFailures > 0 || fleet.targets.some((t) => t.failureType === FailureType.CompensationFailed);
  progress.setPhase(undoFailed ? 'compensation-failed' : 'failed');
  const reverted = input.onFailure === 'halt-and-revert' ? changed.length - revertFailures : 0;
  const message =
    `fleet ${input.name} halted: ${fleet.halted.reason}. ` +
    `${fleet.targets.filter((t) => t.phase === 'skipped').length} target(s) never touched` +
    (input.onFailure === 'halt-and-revert'
      ? `; ${reverted} of ${changed.length} changed target(s) reverted${revertFailures ? ` — ${revertFailures} REVERT(S) FAILED, see the status` : ''}`
      : `; ${changed.length} target(s) stay on ${input.targetImage}`);
  progress.status.error = message;
  refresh();
  throw ApplicationFailure.create({
    type: undoFailed ? FailureType.CompensationFailed : FailureType.VerificationFailed,
    nonRetryable: true,
    message,
    details: [finish('halted')],
  });

  /** The selector's targets: each host's running containers with the label, in host order, then round-robin. */
  async function resolveSelector(
    s: NonNullable<Valid['selector']>,
  ): Promise<Array<Omit<FleetTarget, 'wave' | 'phase' | 'childWorkflowId'>>> {
    const perHost = await Promise.all(
      s.hosts.map(async (host) => {
        const { listLabelledContainers } = proxyActivities<Activities>({ ...quick, taskQueue: hostTaskQueue(host) });
        const found: LabelledContainer[] = await listLabelledContainers({ label: s.label.replaceAll('{host}', host) });
        return found
          .filter((c) => c.running && !/-pre-rollback-/.test(c.name))
          .map((c) => {
            const url = c.healthUrl ?? s.healthUrl?.replaceAll('{host}', host).replaceAll('{container}', c.name);
            if (!url) {
              throw fail(
                FailureType.InvalidInput,
                `${host}/${c.name} has no 'cortex.health-url' label and the selector has no health URL template`,
              );
            }
            try {
              validateHttpUrl(url, `${host}/${c.name} health URL`);
            } catch (err) {
              throw fail(FailureType.InvalidInput, errorMessage(err));
            }
            return { host, container: c.name, healthUrl: url };
          });
      }),
    );
    // round-robin across hosts: each wave spreads over the hosts instead of emptying one host first
    const out: Array<{ host: string; container: string; healthUrl: string }> = [];
    for (let i = 0; perHost.some((h) => i < h.length); i++) for (const h of perHost) if (i < h.length) out.push(h[i]!);
    if (out.length > MAX_FLEET_TARGETS) {
      throw fail(
        FailureType.InvalidInput,
        `${out.length} containers match; a fleet takes at most ${MAX_FLEET_TARGETS}`,
      );
    }
    return out;
  }
}
