// Owns the human approval gate, reusable by every rollback workflow: the `approve` / `reject` signals (sendable
// from the Web UI, the temporal CLI and our CLI), the `decide` update (our CLI: refused before it enters history),
// the approval policy (loaded by an activity, so each run records the policy it used), the wait, the escalation.
// Invariants: a signal that arrives before the workflow reaches the gate still counts (handlers are set at
// construction; under the policy it is judged once the policy is loaded); a decision that fails the checks is
// recorded as refused (signal) or rejected by the validator (update, nothing in history) and decides nothing; the
// first authorised decision wins. A plan-bound gate (Terraform) counts an approval only while a plan awaits it
// and, when the decision names a plan (`planId`), only for that plan; `reopen()` asks again after a re-plan.
// Runs started before the policy (no `approval-policy` patch marker) keep the role-only check and the single
// wait, command for command, so their histories replay.
// Under the policy, a type in `mode: "acknowledge"` (the emergencies; `approval-acknowledge-mode` patch) takes an
// acknowledgement: any engineer of the roster (any name under trustClaimedRoles), no four eyes, and the requester's
// own acknowledgement lets the run go on at once; only a requester outside the roster waits for one. An emergency
// dispatcher's child runs at once on the same terms: an acknowledging engineer outside the roster leaves it waiting
// for its own approval (`emergency-child-acknowledger-on-roster`). A fleet's
// child takes the fleet's decision as the fleet's gate judged it, escalation included (`fleet-child-takes-fleet-
// decision`). Escalated approvers stay within the impact rule when it applied (`escalation-keeps-impact-rule`).
import {
  condition,
  defineSignal,
  defineUpdate,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, PlanSummary } from '../../activities/index.ts';
import {
  acknowledgementRefusal,
  decisionRefusal,
  escalatedApprovers,
  rulesFor,
  type ApprovalRules,
  type LoadedPolicy,
} from '../../common/approval-policy.ts';
import { legacyApprovalRefusal, REQUIRED_ROLE, type Role, type RollbackType } from '../../common/roles.ts';
import { notifyEvent, resolveApprovalPages, type NotificationRecord } from './notify.ts';
import { quick } from './profiles.ts';
import type { Progress } from './progress.ts';

export interface ApproveSignal {
  approver: string;
  role: string;
  comment?: string;
  /** The plan approved (its id in the status' pending request); a plan-bound gate refuses another plan's. */
  planId?: string;
}
export interface RejectSignal {
  approver: string;
  role: string;
  reason: string;
}

// What the Web UI's Send a Signal dialog shows (the SDK answers its metadata query with these).
const APPROVE_DESCRIPTION =
  'Approve the rollback. Input: {"approver":"oncall-eng","role":"on-call-engineer","comment":"go"} — approver: ' +
  "a person of the approval policy's roster (id or @handle), role: one the roster gives them that may approve this " +
  'type (status query: pendingApproval.approverRoles); the requester may not approve; comment optional; planId (a ' +
  'Terraform plan) optional. A decision failing a check is recorded as refused.';
const REJECT_DESCRIPTION =
  'Reject the rollback: nothing (more) is changed and it ends as rejected. Input: ' +
  '{"approver":"eng-manager","role":"engineering-manager","reason":"fix forward instead"} — same checks as approve.';
const DECIDE_DESCRIPTION =
  'Approve or reject, refused before it is recorded when a check fails. Input: {"decision":"approve"|"reject",' +
  '"approver":"eng-manager","role":"engineering-manager","comment":"go (the reason, to reject)"}.';

export const approveSignal = defineSignal<[ApproveSignal]>('approve');
export const rejectSignal = defineSignal<[RejectSignal]>('reject');

/** One decision through the `decide` update: its validator refuses before anything enters history. */
export interface DecideUpdate {
  decision: 'approve' | 'reject';
  approver: string;
  role: string;
  /** The approval's comment, or the rejection's reason (required to reject). */
  comment?: string;
  planId?: string;
}
export const decideUpdate = defineUpdate<ApprovalRecord, [DecideUpdate]>('decide');

/** The start of the validator's answer while the run has not opened its approval yet (the CLI waits a moment). */
export const NOT_OPEN_YET = 'no approval is open yet';

/** The validator's answer on a run started before the approval policy: such runs take the signals only. */
export const PRE_POLICY_REFUSAL = 'this rollback started before the approval policy: send the approve/reject signal';

export interface ApprovalRecord {
  decision: 'approved' | 'rejected' | 'refused' | 'escalated';
  approver: string;
  role: string;
  at: string;
  comment?: string;
  /**
   * How the decision arrived: a signal, the `decide` update, the input's pre-approval, the policy (escalation), or
   * the emergency dispatcher that started this rollback as its child (the runbook's emergencies run at once), or
   * the acknowledgement an emergency starts with (its requester's, or the input's; `mode: "acknowledge"`).
   */
  via: 'signal' | 'update' | 'pre-approval' | 'policy' | 'emergency' | 'acknowledgement';
  /** Why a decision did not count. */
  refusal?: string;
  /** The plan that was awaiting this decision (plan-bound gates). */
  planId?: string;
  /** An escalation: who was told, what they were told through, who may now decide, for how long. */
  escalation?: {
    afterSeconds: number;
    notified: string[];
    notification: string;
    addPeople: string[];
    addRoles: string[];
    windowSeconds: number;
  };
}

export interface ApprovalRequest {
  requiredRole: Role;
  rollbackType: RollbackType;
  deadline: string;
  /** What the approver approves: the saved plan's changes (plan-bound gates). */
  plan?: PlanSummary;
  /** Under the policy: the roles that may decide now, whom to ask, and whether the wait was escalated. */
  approverRoles?: string[];
  contact?: string;
  escalated?: boolean;
  alsoMayDecide?: string[];
  /** `acknowledge`: an engineer of the roster acknowledges (an emergency whose requester is not in the roster). */
  mode?: 'approve' | 'acknowledge';
}

/** The policy a run used, in its status (and through it, the report). */
export interface ApprovalPolicyRecord {
  path: string;
  sha256: string;
  rules: ApprovalRules;
}

export type GateOutcome =
  | { decision: 'approved'; by: ApprovalRecord }
  | { decision: 'rejected'; by: ApprovalRecord }
  | { decision: 'timed-out'; waitedSeconds: number };

interface EarlySignal {
  decision: 'approved' | 'rejected';
  approver: unknown;
  role: unknown;
  text: unknown;
  planId?: unknown;
  at: string;
}

export class ApprovalGate {
  private decided?: ApprovalRecord;
  private pendingPlan?: string;
  /** Runs with the `approval-policy` patch: roster, four eyes, windows per type, escalation, the update. */
  readonly policyMode: boolean;
  private loaded?: LoadedPolicy;
  private rules?: ApprovalRules;
  private requestedBy?: string;
  private escalated = false;
  /** `approval-acknowledge-mode`: the type's rules say `acknowledge`, and this run judges decisions so. */
  private acknowledge = false;
  /** `escalation-keeps-impact-rule`: escalated approvers count only within the impact rule when it applied. */
  private keepImpactRule = false;
  private closed = false;
  private early: EarlySignal[] = [];

  constructor(
    private readonly rollbackType: RollbackType,
    private readonly log: ApprovalRecord[],
    private readonly opts: { planBound?: boolean } = {},
  ) {
    this.policyMode = patched('approval-policy');
    setHandler(approveSignal, (s) => this.receive('approved', s?.approver, s?.role, s?.comment, s?.planId), {
      description: APPROVE_DESCRIPTION,
    });
    setHandler(rejectSignal, (s) => this.receive('rejected', s?.approver, s?.role, s?.reason), {
      description: REJECT_DESCRIPTION,
    });
    setHandler(decideUpdate, (u: DecideUpdate) => this.applyUpdate(u), {
      validator: (u: DecideUpdate) => this.validateUpdate(u),
      description: DECIDE_DESCRIPTION,
    });
  }

  /** Asks again (a new plan replaced the approved one): the earlier decision no longer counts. */
  reopen(): void {
    this.decided = undefined;
    this.pendingPlan = undefined;
    this.closed = false;
    this.escalated = false;
  }

  get requiredRole(): Role {
    return REQUIRED_ROLE[this.rollbackType];
  }

  /** The policy this run decided under (policy mode, once loaded). */
  get policyRecord(): ApprovalPolicyRecord | undefined {
    return this.loaded && this.rules
      ? { path: this.loaded.path, sha256: this.loaded.sha256, rules: this.rules }
      : undefined;
  }

  /** Policy mode: adopts the loaded policy and judges the signals that arrived before it, in arrival order. */
  usePolicy(
    loaded: LoadedPolicy,
    ctx: { requestedBy?: string; expectedImpactMinutes?: number; maxWindowSeconds?: number },
  ): ApprovalRules {
    if (!this.loaded) {
      this.loaded = loaded;
      this.requestedBy = ctx.requestedBy;
      this.rules = rulesFor(loaded.policy, this.rollbackType, ctx);
    }
    return this.rules!;
  }

  /**
   * Right after usePolicy, in the workflow's own code (never a handler): turns on, by their patch markers, the
   * judging this run's rules call for. Only runs whose rules need one record its marker.
   */
  adoptPolicyPatches(): void {
    const rules = this.rules!;
    if (rules.mode === 'acknowledge' && patched('approval-acknowledge-mode')) this.acknowledge = true;
    const e = rules.escalation;
    if (rules.impactRuleApplied && e && (e.addPeople.length > 0 || e.addRoles.length > 0)) {
      this.keepImpactRule = patched('escalation-keeps-impact-rule');
    }
  }

  /**
   * Records an approval given up front (automation); it must satisfy the same checks as any decision. In
   * acknowledge mode it is the emergency's acknowledgement (recorded with the role the roster gives them).
   */
  preApprove(approver: string, role: string, comment?: string): string | undefined {
    const via = this.acknowledge ? ('acknowledgement' as const) : ('pre-approval' as const);
    const judged = this.policyMode ? this.judge('approved', approver, role) : { refusal: this.check(approver, role) };
    const refusal = judged.refusal;
    if (refusal) {
      if (this.policyMode) {
        this.log.push({ decision: 'refused', approver, role, at: nowIso(), via, refusal, ...opt(comment) });
      }
      return refusal;
    }
    this.decide({ decision: 'approved', approver, role: judged.role ?? role, at: nowIso(), via, ...opt(comment) });
    return undefined;
  }

  /** Policy mode: why this pre-approval would be refused now (nothing recorded). */
  preApprovalRefusal(approver: string, role: string): string | undefined {
    return this.judge('approved', approver, role).refusal;
  }

  /**
   * A fleet's child: the fleet's own decision, which the fleet's gate judged under the same policy and requester
   * (escalation included); checked by the caller: this run's parent is the fleet named in the comment.
   */
  acceptFromFleet(approver: string, role: string, comment: string, childRefusal: string): void {
    this.decide({
      decision: 'approved',
      approver,
      role,
      at: nowIso(),
      via: 'pre-approval',
      comment: `${comment}; the fleet's decision as its gate judged it (this rollback's own check alone: ${childRefusal})`,
    });
  }

  /**
   * The child of an emergency dispatcher (checked by the caller: this run's parent is the emergency named in the
   * acknowledgement): the runbook's emergencies run at once and any engineer acknowledges, so neither the roster
   * nor four eyes apply — the acknowledging engineer is often the requester.
   */
  acceptEmergency(approver: string, role: string, comment?: string): void {
    this.decide({ decision: 'approved', approver, role, at: nowIso(), via: 'emergency', ...opt(comment) });
  }

  /**
   * Policy mode, an emergency dispatcher's child: why the acknowledging engineer (`<engineer> (emergency <id>)`)
   * does not acknowledge under the policy's emergency rules (not in the roster), or undefined when they do.
   */
  emergencyAcknowledgerRefusal(approver: string): string | undefined {
    const policy = this.loaded!.policy;
    const who = approver.replace(/ \(emergency \S+\)$/, '');
    const r = acknowledgementRefusal(
      policy,
      rulesFor(policy, 'emergency'),
      { approver: who, role: 'engineer' },
      {
        escalated: false,
      },
    );
    return 'refusal' in r ? r.refusal : undefined;
  }

  /** Records the dispatcher's acknowledgement as refused: this rollback then waits for its own approval. */
  refuseEmergency(approver: string, role: string, refusal: string, comment?: string): void {
    this.log.push({ decision: 'refused', approver, role, at: nowIso(), via: 'emergency', refusal, ...opt(comment) });
  }

  /** Waits for the first authorised decision, at most `timeoutSeconds` (the gate before the policy). */
  async wait(
    timeoutSeconds: number,
    onPending: (req: ApprovalRequest | undefined) => void,
    plan?: PlanSummary,
  ): Promise<GateOutcome> {
    if (plan) this.pendingPlan = plan.id;
    if (!this.decided) {
      onPending({
        requiredRole: this.requiredRole,
        rollbackType: this.rollbackType,
        deadline: new Date(Date.now() + timeoutSeconds * 1000).toISOString(),
        ...(plan ? { plan } : {}),
      });
      const deadline = new Date(Date.now() + timeoutSeconds * 1000).toISOString();
      // user metadata on the timer (the Web UI's label for it), not part of the command: replay is unaffected
      await condition(() => this.decided !== undefined, timeoutSeconds * 1000, {
        summary: `approval window: ${this.requiredRole} until ${deadline}`,
      });
      onPending(undefined);
    }
    return this.outcome(timeoutSeconds);
  }

  /**
   * Policy mode: the window of the type for its approvers; then, undecided, the backup contact is notified and
   * the approvers widened as the policy says, for the escalation window; then "not approved".
   */
  async waitWithPolicy(
    progress: Progress,
    onPending: (req: ApprovalRequest | undefined) => void,
    plan?: PlanSummary,
  ): Promise<GateOutcome> {
    const rules = this.rules!;
    if (plan) this.pendingPlan = plan.id;
    this.closed = false;
    this.drainEarly();
    let waited = 0;
    const notifications: Promise<NotificationRecord>[] = [];
    if (!this.decided) {
      const widened = escalatedApprovers(this.loaded!.policy, rules, this.keepImpactRule);
      const alsoMayDecide = [...widened.addPeople, ...widened.addRoles.map((r) => `role ${r}`)];
      const request = (escalated: boolean, seconds: number): ApprovalRequest => ({
        requiredRole: this.requiredRole,
        rollbackType: this.rollbackType,
        deadline: new Date(Date.now() + seconds * 1000).toISOString(),
        ...(plan ? { plan } : {}),
        approverRoles: rules.approverRoles,
        contact: rules.contact.handle,
        escalated,
        ...(escalated && rules.escalation ? { alsoMayDecide } : {}),
        ...(this.acknowledge ? { mode: 'acknowledge' as const } : {}),
      });
      onPending(request(false, rules.windowSeconds));
      const base = { rollbackType: this.rollbackType, target: progress.status.target };
      notifications.push(
        notifyEvent(progress, 'approval-needed', {
          ...base,
          summary: this.acknowledge
            ? `needs an acknowledgement by an engineer of the roster within ${rules.windowSeconds}s (the requester is not in it)`
            : `needs approval by ${rules.approverRoles.join(' or ')} within ${rules.windowSeconds}s`,
          mention: [rules.contact.handle],
          details: { approverRoles: rules.approverRoles.join(', '), windowSeconds: rules.windowSeconds },
          ...(plan ? { key: plan.id } : {}),
        }),
      );
      await condition(() => this.decided !== undefined, rules.windowSeconds * 1000, {
        summary: `approval window: ${rules.requiredRole} until ${progress.status.pendingApproval?.deadline ?? '?'}`,
      });
      waited = rules.windowSeconds;
      const e = rules.escalation;
      if (!this.decided && e) {
        this.escalated = true;
        onPending(request(true, e.windowSeconds));
        const told = await notifyEvent(progress, 'escalated', {
          ...base,
          summary:
            `no decision within ${rules.windowSeconds}s; backup contact asked` +
            (alsoMayDecide.length ? `; may now also decide: ${alsoMayDecide.join(', ')}` : '') +
            (widened.narrowedBy ? ` (within the impact rule: ${widened.narrowedBy})` : ''),
          mention: e.notify.map((n) => n.handle),
          details: { windowSeconds: e.windowSeconds },
          key: plan ? `${plan.id}/level-1` : 'level-1',
        });
        this.log.push({
          decision: 'escalated',
          approver: e.notify.map((n) => n.id).join(', '),
          role: 'backup contact',
          at: nowIso(),
          via: 'policy',
          escalation: {
            afterSeconds: rules.windowSeconds,
            notified: e.notify.map((n) => n.handle),
            notification: told.result
              ? `slack ${told.result.slack}, pagerduty ${told.result.pagerDuty}`
              : `failed: ${told.error ?? '?'}`,
            addPeople: widened.addPeople,
            addRoles: widened.addRoles,
            windowSeconds: e.windowSeconds,
          },
        });
        if (!this.decided) {
          await condition(() => this.decided !== undefined, e.windowSeconds * 1000, {
            summary: `escalated approval window: also ${[...widened.addPeople, ...widened.addRoles].join(', ') || 'nobody more'}`,
          });
          waited += e.windowSeconds;
        }
      }
      onPending(undefined);
    }
    this.closed = this.decided === undefined;
    await Promise.all(notifications);
    return this.outcome(waited);
  }

  private outcome(waitedSeconds: number): GateOutcome {
    const d = this.decided;
    if (!d) return { decision: 'timed-out', waitedSeconds };
    return d.decision === 'approved' ? { decision: 'approved', by: d } : { decision: 'rejected', by: d };
  }

  /** The pre-policy gate's check (legacy role order): runs started before the policy only. */
  private check(approver: unknown, role: unknown): string | undefined {
    if (typeof approver !== 'string' || approver.trim() === '') return 'approver is required';
    return legacyApprovalRefusal(this.rollbackType, role);
  }

  /** Policy mode: why this decision may not count now (undefined when it may). */
  private policyRefusal(
    decision: 'approved' | 'rejected',
    approver: unknown,
    role: unknown,
    planId?: unknown,
  ): string | undefined {
    return this.judge(decision, approver, role, planId).refusal;
  }

  /** Policy mode: the refusal, or (acknowledge mode) the role the roster gives the acknowledging person. */
  private judge(
    decision: 'approved' | 'rejected',
    approver: unknown,
    role: unknown,
    planId?: unknown,
  ): { refusal?: string; role?: string } {
    if (this.decided) {
      return {
        refusal: `already ${this.decided.decision} by ${this.decided.approver} (${this.decided.role}): a decision is final`,
      };
    }
    if (this.closed) return { refusal: 'the approval window has closed: this rollback was not approved' };
    if (this.acknowledge) {
      const ack = acknowledgementRefusal(
        this.loaded!.policy,
        this.rules!,
        { approver, role },
        { escalated: this.escalated },
      );
      return 'refusal' in ack ? ack : { role: ack.role };
    }
    const refusal = decisionRefusal(
      this.loaded!.policy,
      this.rules!,
      { approver, role },
      {
        ...(this.requestedBy !== undefined ? { requestedBy: this.requestedBy } : {}),
        escalated: this.escalated,
        escalationKeepsImpactRule: this.keepImpactRule,
      },
    );
    const planned = refusal ?? this.planRefusal(decision, planId);
    return planned ? { refusal: planned } : {};
  }

  private receive(
    decision: 'approved' | 'rejected',
    approver: unknown,
    role: unknown,
    text: unknown,
    planId?: unknown,
  ): void {
    if (this.policyMode) {
      const s: EarlySignal = { decision, approver, role, text, planId, at: nowIso() };
      // an approval sent while no plan awaited one never approves a plan made later
      const noPlanYet = this.loaded ? undefined : this.planRefusal(decision, planId);
      if (noPlanYet) this.log.push({ ...this.signalBase(s), decision: 'refused', refusal: noPlanYet });
      else if (this.loaded) this.judgeSignal(s);
      else this.early.push(s);
      return;
    }
    const refusal = this.check(approver, role) ?? this.planRefusal(decision, planId);
    const base = { approver: text_(approver), role: text_(role), at: nowIso(), via: 'signal' as const };
    const comment = typeof text === 'string' && text !== '' ? { comment: text } : {};
    if (refusal) {
      this.log.push({ ...base, ...comment, decision: 'refused', refusal });
      return;
    }
    if (this.decided) {
      this.log.push({ ...base, ...comment, decision: 'refused', refusal: `already ${this.decided.decision}` });
      return;
    }
    this.decide({ ...base, ...comment, decision, ...(this.pendingPlan ? { planId: this.pendingPlan } : {}) });
  }

  private drainEarly(): void {
    const early = this.early;
    this.early = [];
    for (const s of early) this.judgeSignal(s);
  }

  private signalBase(s: EarlySignal) {
    return {
      approver: text_(s.approver),
      role: text_(s.role),
      at: s.at,
      via: 'signal' as const,
      ...(typeof s.text === 'string' && s.text !== '' ? { comment: s.text } : {}),
    };
  }

  private judgeSignal(s: EarlySignal): void {
    const judged = this.judge(s.decision, s.approver, s.role, s.planId);
    if (judged.refusal) this.log.push({ ...this.signalBase(s), decision: 'refused', refusal: judged.refusal });
    else
      this.decide({
        ...this.signalBase(s),
        ...(judged.role ? { role: judged.role } : {}),
        decision: s.decision,
        ...this.planField(),
      });
  }

  /** The update's validator: throwing rejects the update before it is written to history. */
  private validateUpdate(u: DecideUpdate): void {
    if (!this.policyMode) throw new Error(PRE_POLICY_REFUSAL);
    if (!this.loaded) {
      throw new Error(`${NOT_OPEN_YET}: the rollback has not reached its approval step; try again shortly`);
    }
    if (u?.decision !== 'approve' && u?.decision !== 'reject')
      throw new Error("decision must be 'approve' or 'reject'");
    if (u.decision === 'reject' && (typeof u.comment !== 'string' || u.comment.trim() === '')) {
      throw new Error('a rejection needs a reason');
    }
    const refusal = this.policyRefusal(
      u.decision === 'approve' ? 'approved' : 'rejected',
      u.approver,
      u.role,
      u.planId,
    );
    if (refusal) throw new Error(refusal);
  }

  private applyUpdate(u: DecideUpdate): ApprovalRecord {
    const decision = u.decision === 'approve' ? 'approved' : 'rejected';
    const record: ApprovalRecord = {
      decision,
      approver: u.approver,
      role: (this.acknowledge ? this.judge(decision, u.approver, u.role).role : undefined) ?? u.role,
      at: nowIso(),
      via: 'update',
      ...opt(u.comment),
      ...this.planField(),
    };
    this.decide(record);
    return record;
  }

  private planField(): { planId?: string } {
    return this.pendingPlan ? { planId: this.pendingPlan } : {};
  }

  private planRefusal(decision: 'approved' | 'rejected', planId: unknown): string | undefined {
    if (!this.opts.planBound || decision !== 'approved' || this.decided) return undefined;
    if (!this.pendingPlan) return 'no plan is awaiting approval yet';
    if (planId !== undefined && planId !== this.pendingPlan) {
      return `approves plan ${text_(planId)}, but the plan awaiting approval is ${this.pendingPlan}`;
    }
    return undefined;
  }

  private decide(record: ApprovalRecord): void {
    this.decided = record;
    this.log.push(record);
  }
}

/** One line per record, for the CLI's status and the report. */
export function approvalLine(a: ApprovalRecord): string {
  if (a.decision === 'escalated' && a.escalation) {
    const e = a.escalation;
    const widened = [...e.addPeople, ...e.addRoles.map((r) => `role ${r}`)];
    return (
      `escalated at ${a.at}: no decision within ${e.afterSeconds}s; told ${e.notified.join(', ')} (${e.notification})` +
      `${widened.length ? `; may now also decide: ${widened.join(', ')}` : ''}; ${e.windowSeconds}s more`
    );
  }
  return (
    `${a.decision} by ${a.approver} (${a.role}) via ${a.via} at ${a.at}` +
    `${a.comment ? ` "${a.comment}"` : ''}${a.refusal ? ` — ${a.refusal}` : ''}`
  );
}

function text_(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v ?? '');
}

function nowIso(): string {
  return new Date().toISOString();
}
function opt(comment: string | undefined): { comment?: string } {
  return comment ? { comment } : {};
}

/**
 * `<engineer> (emergency <id>)` is how an emergency dispatcher pre-approves its child; it counts only when that
 * emergency really is this run's parent (a parent cannot be claimed: Temporal records who started a child).
 */
export function fromEmergencyParent(approver: string): boolean {
  const parent = /\(emergency (\S+)\)$/.exec(approver)?.[1];
  return parent !== undefined && workflowInfo().parent?.workflowId === parent;
}

/**
 * `fleet <id>: approved via ...` is how a fleet hands its one approval to each child (fleet.ts); it is the fleet's
 * decision only when that fleet really is this run's parent.
 */
export function fromFleetParent(comment: string | undefined): boolean {
  const parent = /^fleet (\S+): approved via /.exec(comment ?? '')?.[1];
  return parent !== undefined && workflowInfo().parent?.workflowId === parent;
}

export interface ApprovalOptions {
  /** Before the policy: the wait (default 3600 s). Under the policy: caps the type's first window. */
  timeoutSeconds?: number;
  preApproved?: { approver: string; role: string; comment?: string };
  /** Who asked for the rollback: under the policy they may not decide it (four eyes). */
  requestedBy?: string;
  /** Over the policy's impact threshold, the impact rule's roles are needed. Default: the type's longest duration. */
  expectedImpactMinutes?: number;
  /** The plan to approve (plan-bound gates). */
  plan?: PlanSummary;
}

/**
 * The approval phase every rollback runs: under the policy, loads it (an activity: the run records the policy it
 * used) and puts it in the status; records a pre-approval from the input (if any, same checks); then waits as the
 * 'approval' step with the pending request (roles, deadline, escalation) visible in the status query.
 */
export async function awaitApproval(progress: Progress, gate: ApprovalGate, o: ApprovalOptions): Promise<GateOutcome> {
  progress.setPhase('awaiting-approval');
  const onPending = (req: ApprovalRequest | undefined): void => {
    if (req) progress.status.pendingApproval = req;
    else delete progress.status.pendingApproval;
  };
  const decidedAt = (g: GateOutcome) => (g.decision === 'timed-out' ? undefined : g.by.at); // when the decision came
  const describe = (g: GateOutcome): string =>
    g.decision === 'timed-out'
      ? `not approved: no decision within ${g.waitedSeconds}s`
      : `${g.decision} by ${g.by.approver} (${g.by.role}) via ${g.by.via}`;
  if (!gate.policyMode) {
    if (o.preApproved) gate.preApprove(o.preApproved.approver, o.preApproved.role, o.preApproved.comment);
    return progress.step(
      'approval',
      () => gate.wait(o.timeoutSeconds ?? 3600, onPending, o.plan),
      (g) =>
        g.decision === 'timed-out'
          ? `no decision within ${g.waitedSeconds}s`
          : `${g.decision} by ${g.by.approver} (${g.by.role})`,
      decidedAt,
    );
  }
  if (!gate.policyRecord) {
    const { loadApprovalPolicy } = proxyActivities<Activities>(quick);
    const loaded = await progress.step(
      'load-approval-policy',
      () => loadApprovalPolicy(),
      (l) => `${l.path} (sha256 ${l.sha256.slice(0, 12)})`,
    );
    gate.usePolicy(loaded, {
      ...(o.requestedBy !== undefined ? { requestedBy: o.requestedBy } : {}),
      ...(o.expectedImpactMinutes !== undefined ? { expectedImpactMinutes: o.expectedImpactMinutes } : {}),
      ...(o.timeoutSeconds !== undefined ? { maxWindowSeconds: o.timeoutSeconds } : {}),
    });
    progress.status.approvalPolicy = gate.policyRecord;
    gate.adoptPolicyPatches();
    const pre = o.preApproved;
    if (pre && fromEmergencyParent(pre.approver) && patched('emergency-child-runs-at-once')) {
      // the acknowledging engineer must be one of the roster (any name under trustClaimedRoles), else this
      // rollback waits for its own approval like any other
      const offRoster = gate.emergencyAcknowledgerRefusal(pre.approver);
      if (offRoster && patched('emergency-child-acknowledger-on-roster')) {
        gate.refuseEmergency(pre.approver, pre.role, offRoster, pre.comment);
      } else {
        gate.acceptEmergency(pre.approver, pre.role, pre.comment);
      }
    } else if (pre) {
      const childRefusal = fromFleetParent(pre.comment) ? gate.preApprovalRefusal(pre.approver, pre.role) : undefined;
      if (childRefusal && patched('fleet-child-takes-fleet-decision')) {
        gate.acceptFromFleet(pre.approver, pre.role, pre.comment!, childRefusal);
      } else {
        gate.preApprove(pre.approver, pre.role, pre.comment);
      }
    }
  }
  const outcome = await progress.step(
    'approval',
    () => gate.waitWithPolicy(progress, onPending, o.plan),
    describe,
    decidedAt,
  );
  if (outcome.decision !== 'timed-out') {
    await resolveApprovalPages(progress, { ...outcome.by, decision: outcome.decision });
  }
  return outcome;
}

/** The approval step of a rollback: undefined when approved, else the outcome the run ends with (its phase, set). */
export async function approvalRefused(
  progress: Progress,
  gate: ApprovalGate,
  input: { approval: ApprovalOptions; requestedBy: string },
): Promise<'rejected' | 'approval-timed-out' | undefined> {
  const decision = await awaitApproval(progress, gate, { ...input.approval, requestedBy: input.requestedBy });
  if (decision.decision === 'approved') return undefined;
  const outcome = decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out';
  progress.setPhase(outcome);
  return outcome;
}
