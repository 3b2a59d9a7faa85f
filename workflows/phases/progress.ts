// Owns the step timeline every rollback workflow exposes through the `status` query: one record per step with
// workflow-clock timestamps, plus the current phase (also upserted as the RollbackPhase search attribute so the
// Web UI can list rollbacks by phase). The same state is the workflow's current details (the Web UI's "Current
// Details" and `temporal workflow describe`): phase, what it waits for and until when, the running and the last
// step — refreshed on every phase change and step boundary. Current details are user metadata answered through the
// SDK's metadata query, not a command: replay is unaffected. Deterministic: only @temporalio/workflow.
// Search attributes never wedge a run (patched 'search-attributes-registered-only'): a run asks the worker (a local
// activity, visibilityPlan, read beside the opening) which of them the namespace has registered, holds its upserts
// until the answer is in, and upserts only those; the status says which it skipped and why. With encrypted payloads, free text (the reason, as
// RollbackTrigger) is published only as the codec's keyed digest: search attributes are never encoded.
import {
  ActivityFailure,
  defineQuery,
  patched,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, PlanSummary, VisibilityPlan } from '../../activities/index.ts';
import { OUTCOME_OF_PHASE } from '../../common/outcomes.ts';
import type { FleetStatus } from '../application/fleet-plan.ts';
import type { ApprovalPolicyRecord, ApprovalRecord, ApprovalRequest } from './approval.ts';

export type StepState = 'running' | 'completed' | 'failed' | 'skipped' | 'compensated';

export interface StepRecord {
  name: string;
  state: StepState;
  startedAt: string;
  endedAt?: string;
  detail?: string;
  /** This step verified the target healthy after the change: the run's time to restore ends at its endedAt. */
  restores?: true;
}

export interface RollbackStatus {
  workflowType: string;
  workflowId: string;
  runId: string;
  rollbackType: string;
  target: string;
  phase: string;
  steps: StepRecord[];
  approvals: ApprovalRecord[];
  pendingApproval?: ApprovalRequest;
  /** The approval policy this run decides under: its file, digest and the rules resolved for this rollback. */
  approvalPolicy?: ApprovalPolicyRecord;
  /** The latest plan of a plan-based rollback (Terraform): what would change, per address. */
  plan?: PlanSummary;
  /** A signal the workflow waits for besides approval (e.g. a dead-man switch's `confirm`) and until when. */
  waitingFor?: { signal: string; deadline: string; what: string };
  /** The watch so far; `alerts` when it reads /metrics (alert thresholds raised). */
  monitoring?: { samples: number; failures: number; consecutiveFailures: number; endsAt: string; alerts?: number };
  /** A fleet rollback: every target's phase and timing, the waves, the error budget left. */
  fleet?: FleetStatus;
  error?: string;
  /** When the target was verified healthy after the change (the endedAt of the step marked `restores`). */
  restoredAt?: string;
  /** A run that upserts search attributes: those it set, those it skipped and why, those published as a digest. */
  searchAttributes?: SearchAttributesRecord;
}

export interface SearchAttributesRecord {
  /** Set on this run (registered on the namespace). */
  published: string[];
  /** Left out: not registered on the namespace, of a type a string cannot go into, or unreadable list (`why`). */
  skipped: { name: string; why: string }[];
  /** Free text published only as its keyed digest (encrypted payloads), e.g. RollbackTrigger. */
  digested?: string[];
}

export const statusQuery = defineQuery<RollbackStatus>('status');

export { SEARCH_ATTRIBUTES } from '../../common/dev-server.ts';

/**
 * What the run is, for `cortex-rollback metrics` (upserted once, with RollbackOutcome when the run ends). Each
 * scenario derives it from its input (scenario.ts runAttributes). Values are cut to MAX_ATTRIBUTE_CHARS: a Keyword
 * search attribute is bounded.
 */
export interface RunAttributes {
  /** What is rolled back: a container, unit, deployment, collection, env file's target, workspace, netns… */
  service: string;
  /** What it is rolled back to: an image, tag, revision, backup, point in time, known-good file, commit… */
  targetVersion?: string;
  /** Why: the input's reason. */
  trigger?: string;
  requestedBy?: string;
}

export const MAX_ATTRIBUTE_CHARS = 200;

/** The attributes that carry free text (the reason): under encryption only their digest is published. */
const FREE_TEXT_ATTRIBUTES = new Set(['RollbackTrigger']);

/** The visibility plan is a local read of the worker's own connection: a few quick tries, then none. */
const visibilityRead = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 3, initialInterval: '200ms', maximumInterval: '1s' },
}).visibilityPlan;

const now = (): string => new Date().toISOString();

export class Progress {
  readonly status: RollbackStatus;

  constructor(rollbackType: string, target: string) {
    const info = workflowInfo();
    this.status = {
      workflowType: info.workflowType,
      workflowId: info.workflowId,
      runId: info.runId,
      rollbackType,
      target,
      phase: 'starting',
      steps: [],
      approvals: [],
    };
    setHandler(statusQuery, () => this.status, {
      description:
        'The rollback as it runs: phase, steps with start/end times, approvals, the pending approval (role, ' +
        'deadline), what else it waits for, live watch counters. No input.',
    });
    this.refreshDetails();
  }

  /** A scenario's own block under the status in the current details (e.g. the Terraform plan awaiting approval). */
  detailsExtra: string | undefined;

  /** Publishes the status (and the scenario's own block) as the workflow's current details (Markdown). */
  refreshDetails(): void {
    const base = currentDetails(this.status);
    setCurrentDetails(this.detailsExtra ? `${this.detailsExtra}\n\n${base}` : base);
  }

  /**
   * Registers the search attributes; a server without them registered is not a reason to fail a rollback. `run`:
   * what the scenario derives from its input; `before`: what this call site upserted before every scenario derived
   * it (undefined: the target as the service), kept for the runs recorded then so their histories replay.
   */
  publishSearchAttributes(run?: RunAttributes, before?: RunAttributes): void {
    // Runs from before the visibility plan upsert unchecked, as recorded.
    if (this.searchAttributesEnabled && this.visibility === undefined && patched('search-attributes-registered-only'))
      this.planVisibility(run);
    this.upsert({
      RollbackType: [this.status.rollbackType],
      RollbackTarget: [this.status.target],
      RollbackPhase: [this.status.phase],
    });
    // Runs from before the metrics attributes upsert nothing more, so their histories replay.
    if (!this.searchAttributesEnabled || !patched('rollback-metrics-attributes')) return;
    this.metricsAttributes = true;
    const derived = patched('rollback-run-attributes');
    const r = derived ? run : before;
    const cut = (v: string) => (derived ? v.slice(0, MAX_ATTRIBUTE_CHARS) : v);
    const a: Record<string, string[]> = { RollbackService: [cut(r?.service ?? this.status.target)] };
    if (r?.targetVersion) a.RollbackTargetVersion = [cut(r.targetVersion)];
    if (r?.trigger) a.RollbackTrigger = [cut(r.trigger)];
    if (r?.requestedBy) a.RollbackRequestedBy = [cut(r.requestedBy)];
    this.upsert(a);
  }

  private metricsAttributes = false;

  /**
   * What the namespace has registered and, encrypted, the digests of the free text (undefined: a run from before
   * the plan, which upserts unchecked; 'pending': being read, what the run upserts meanwhile waits in `held`).
   */
  private visibility: VisibilityPlan | 'pending' | undefined;
  private held: Record<string, string[]> = {};

  /**
   * Reads the plan beside the run, not before it: the opening goes on at once (its patches and commands as without
   * the read), and what it upserted meanwhile is upserted, checked, when the plan is in.
   */
  private planVisibility(run: RunAttributes | undefined): void {
    this.visibility = 'pending';
    this.status.searchAttributes = { published: [], skipped: [] };
    void visibilityRead(run?.trigger ? { freeText: { RollbackTrigger: run.trigger } } : {})
      .catch(
        // a worker without the activity (or a failed read): nothing is upserted, the rollback goes on
        (err: unknown): VisibilityPlan => ({
          registered: [],
          encrypted: true,
          error: `no visibility plan: ${errorMessage(err)}`,
        }),
      )
      .then((plan) => {
        this.visibility = plan;
        const held = this.held;
        this.held = {};
        this.upsert(held);
      });
  }

  private skip(name: string, why: string): void {
    const rec = this.status.searchAttributes;
    if (rec && !rec.skipped.some((s) => s.name === name)) rec.skipped.push({ name, why });
  }

  /** Why a plan leaves `name` out, or undefined when it may be upserted. */
  private static refusal(v: VisibilityPlan, name: string): string | undefined {
    if (v.registered.includes(name)) return undefined;
    if (v.error) return v.error;
    return v.wrongType?.includes(name)
      ? 'registered on the namespace with a type a string cannot go into'
      : 'not registered on the namespace';
  }

  setPhase(phase: string): void {
    this.status.phase = phase;
    const outcome = this.metricsAttributes ? OUTCOME_OF_PHASE[phase] : undefined;
    this.upsert(outcome ? { RollbackPhase: [phase], RollbackOutcome: [outcome] } : { RollbackPhase: [phase] });
    this.refreshDetails();
  }

  private upsert(attrs: Record<string, string[]>): void {
    if (!this.searchAttributesEnabled) return;
    const v = this.visibility;
    if (v === undefined) {
      upsertSearchAttributes(attrs);
      return;
    }
    if (v === 'pending') {
      Object.assign(this.held, attrs); // the latest value of each, upserted when the plan is in
      return;
    }
    const rec = this.status.searchAttributes!;
    const allowed: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(attrs)) {
      const refused = Progress.refusal(v, name);
      if (refused) {
        this.skip(name, refused);
        continue;
      }
      if (v.encrypted && FREE_TEXT_ATTRIBUTES.has(name)) {
        // free text never goes into a search attribute of an encrypted run: its keyed digest, or nothing
        const digest = v.digests?.[name];
        if (!digest) {
          this.skip(
            name,
            'free text of an encrypted run, and no digest of it (the payload codec is not the project one)',
          );
          continue;
        }
        allowed[name] = [digest];
        if (!rec.digested?.includes(name)) rec.digested = [...(rec.digested ?? []), name];
      } else allowed[name] = value;
      if (!rec.published.includes(name)) rec.published.push(name);
    }
    if (Object.keys(allowed).length > 0) upsertSearchAttributes(allowed);
    this.refreshDetails();
  }

  /** Off unless the workflow input asks for it: an unregistered attribute fails the workflow task. */
  searchAttributesEnabled = false;

  /**
   * Runs `fn` as a named step, recording its timing and outcome. `endedAt` names when the outcome happened when
   * that is not when the step returned (an approval decided before the wait began: a pre-approval).
   */
  async step<T>(
    name: string,
    fn: () => Promise<T>,
    describe?: (value: T) => string,
    endedAt?: (value: T) => string | undefined,
  ): Promise<T> {
    const record: StepRecord = { name, state: 'running', startedAt: now() };
    this.status.steps.push(record);
    this.refreshDetails(); // before fn: the activities it schedules are labelled with this step (summaries.ts)
    try {
      const running = fn();
      // fn ran up to its first await: a wait it announced (pending approval, waitingFor) is in the status now
      this.refreshDetails();
      const value = await running;
      record.state = 'completed';
      record.endedAt = endedAt?.(value) ?? now();
      if (describe) record.detail = describe(value);
      return value;
    } catch (err) {
      record.state = 'failed';
      record.endedAt = now();
      record.detail = errorMessage(err);
      throw err;
    } finally {
      this.refreshDetails();
    }
  }

  /**
   * Marks the latest completed step `name` as the one that verified the target healthy after the change: the
   * run's time to restore ends there (the metrics and the report read it). Status only, no command.
   */
  restored(name: string): boolean {
    const record = [...this.status.steps].reverse().find((s) => s.name === name && s.state === 'completed');
    if (!record) return false;
    record.restores = true;
    this.status.restoredAt = record.endedAt ?? record.startedAt;
    return true;
  }

  /** A restore verified elsewhere (a fleet's children): a step `name` at `at` that carries the mark. */
  noteRestored(name: string, at: string, detail: string): void {
    this.status.steps.push({ name, state: 'completed', startedAt: at, endedAt: at, detail, restores: true });
    this.status.restoredAt = at;
    this.refreshDetails();
  }

  note(name: string, state: StepState, detail?: string): void {
    const t = now();
    this.status.steps.push({ name, state, startedAt: t, endedAt: t, ...(detail ? { detail } : {}) });
    this.refreshDetails();
  }
}

/** The status as the Web UI's current details: what happens now, what it waits for and until when. */
export function currentDetails(s: RollbackStatus): string {
  const lines = [`**phase:** ${s.phase}`];
  const p = s.pendingApproval;
  if (p) {
    lines.push(
      `**waiting for:** approval by the role ${p.requiredRole} (or higher) until ${p.deadline} — Send a Signal ` +
        `\`approve\` with \`{"approver":"<you>","role":"${p.requiredRole}"}\` or \`reject\` with ` +
        `\`{"approver":"<you>","role":"${p.requiredRole}","reason":"<why>"}\``,
    );
  }
  const w = s.waitingFor;
  if (w)
    lines.push(`**waiting for:** signal \`${w.signal}\` until ${w.deadline} (${w.what}) — input \`{"by":"<you>"}\``);
  const running = s.steps.filter((st) => st.state === 'running').at(-1);
  if (running) lines.push(`**step:** ${running.name}, running since ${running.startedAt}`);
  const last = s.steps.filter((st) => st.state !== 'running').at(-1);
  if (last) {
    lines.push(
      `**last step:** ${last.name} ${last.state} at ${last.endedAt ?? last.startedAt}` +
        (last.detail ? ` — ${last.detail.slice(0, 300)}` : ''),
    );
  }
  if (s.monitoring) {
    const m = s.monitoring;
    lines.push(`**watch:** ${m.samples} samples, ${m.failures} failed, ends ${m.endsAt}`);
  }
  if (s.error) lines.push(`**error:** ${s.error.slice(0, 300)}`);
  const skipped = s.searchAttributes?.skipped ?? [];
  if (skipped.length)
    lines.push(`**search attributes skipped:** ${skipped.map((k) => `${k.name} (${k.why})`).join('; ')}`.slice(0, 600));
  return lines.join('\n\n');
}

/** A step that no worker took in time (its host worker gone past the host wait): the schedule-to-start timeout. */
export function notTakenInTime(err: unknown): err is ActivityFailure {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}

export function errorMessage(err: unknown): string {
  if (notTakenInTime(err))
    return (
      `${err.activityType}: no worker took the step from its task queue within the host wait ` +
      `(hostWaitSeconds, a schedule-to-start timeout): the host's worker is not running or not polling`
    );
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message && cause.message !== err.message
      ? `${err.message}: ${cause.message}`
      : err.message;
  }
  return String(err);
}
