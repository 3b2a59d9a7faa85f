// Owns the runbook's "Infrastructure Rollback → Scenario 1: network configuration" (iptables) as a durable workflow
// with a dead-man switch like iptables-apply.
// Invariants:
//  - nothing changes before the input is valid, the target rules file parses where it will be applied
//    (`iptables-restore --test`) and a director of engineering approved; the file's sha256 is fixed at the check,
//    so the rules approved are the rules applied;
//  - the live rules are backed up (iptables-save to a file) right before the change, and restoring that backup is
//    the undo pushed before the change;
//  - after the change, the service's health URLs must answer and someone must send `confirm` within the window;
//    otherwise (unhealthy, no confirmation, cancellation) the backup is restored automatically. The window is a
//    workflow timer, so the restore happens even when the worker that applied the rules died;
//  - a `confirm` counts only while the workflow waits for it (after the change was verified).
import { CancellationScope, condition, defineSignal, setHandler, workflowInfo } from '@temporalio/workflow';
import type { NetworkHealth, RestoredRules, RulesBackup, RulesState, TargetRules } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { runSuffix } from '../../common/names.ts';
import { ApprovalGate, approvalRefused, type ApprovalRecord } from '../phases/approval.ts';
import { fail, failedBeforeAnyChange } from '../phases/failures.ts';
import { hostActivities } from '../phases/profiles.ts';
import { Progress, type StepRecord } from '../phases/progress.ts';
import { withLifecycleNotifications, type RollbackNotifications } from '../phases/notify.ts';
import { compensate, type Undo } from '../phases/saga.ts';
import { defineScenario, openRollback, who } from '../phases/scenario.ts';
import {
  approvalInput,
  checked,
  hostInput,
  hostWaitInput,
  int,
  scenarioInput,
  whoFields,
  z,
} from '../phases/schema.ts';
import { InputError, show, validateAbsolutePath, validateHttpUrl } from '../phases/validation.ts';

export interface ConfirmSignal {
  /** Who checked that the service (and their own access) still works. */
  by: string;
  comment?: string;
}
/** The dead-man switch's confirmation: sendable from our CLI, `temporal workflow signal` and the Web UI. */
export const confirmSignal = defineSignal<[ConfirmSignal]>('confirm');

export interface ConfirmRecord {
  by: string;
  at: string;
  comment?: string;
  accepted: boolean;
  refusal?: string;
}

const NETNS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;
const CONTROL_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/; // eslint-disable-line no-control-regex

function netnsName(v: unknown, field: string): string {
  if (typeof v !== 'string' || !NETNS.test(v))
    throw new InputError(field, `${show(v)} is not a network namespace name`);
  return v;
}

export const NETWORK_DEFAULTS = { confirmSeconds: 300, verifyTimeoutSeconds: 60 };

export const networkRollbackInput = scenarioInput({
  rulesFile: checked(validateAbsolutePath)
    .describe('the known-good rules (iptables-save output) on the host, an absolute path')
    .meta({ example: '/etc/iptables/rules.v4.known-good' }),
  netns: checked(netnsName)
    .optional()
    .describe("network namespace to act in (`ip netns exec`); absent: the host's own rules"),
  healthUrls: z
    .array(checked(validateHttpUrl))
    .min(1, { error: 'needs at least one health URL' })
    .max(20, { error: 'takes at most 20 health URLs' })
    .describe(
      'health URLs that must answer after the change, probed from the namespace when one is given (repeat the flag for several)',
    )
    .meta({ flag: 'health-url', example: 'http://127.0.0.1:3000/health' }),
  confirmSeconds: int(5, 86400)
    .default(NETWORK_DEFAULTS.confirmSeconds)
    .describe('dead-man window: without a `confirm` signal within it, the previous rules are restored'),
  verifyTimeoutSeconds: int(1, 3600)
    .default(NETWORK_DEFAULTS.verifyTimeoutSeconds)
    .describe('how long the health URLs may take to answer after the change'),
  ...whoFields,
  host: hostInput(),
  hostWaitSeconds: hostWaitInput(),
  approval: approvalInput('infrastructure'),
  searchAttributes: z
    .boolean()
    .default(false)
    .describe('upsert RollbackType/RollbackTarget/RollbackPhase (the CLI sets it from CORTEX_SEARCH_ATTRIBUTES)')
    .meta({ cli: false }),
});

export type NetworkRollbackInput = z.input<typeof networkRollbackInput>;
export type ValidNetworkRollbackInput = z.output<typeof networkRollbackInput>;
type ValidInput = ValidNetworkRollbackInput;

export function networkRollbackWorkflowId(i: { host?: string | undefined; netns?: string | undefined }): string {
  return `rollback-network-iptables-${i.host ?? 'local'}${i.netns ? `-${i.netns}` : ''}`;
}

export const networkScenario = defineScenario({
  name: 'network',
  workflowType: 'networkRollback',
  category: 'infrastructure',
  runbook: 'Infrastructure Rollback → Scenario 1: network configuration',
  summary: 'restore known-good iptables rules, verify health, revert automatically unless confirmed in time',
  input: networkRollbackInput,
  summarize: (i) => `restore iptables rules from ${i.rulesFile}`,
  workflowId: networkRollbackWorkflowId,
  runAttributes: (i) => ({
    service: `network:${i.host ?? 'local'}${i.netns ? `/${i.netns}` : ''}`,
    targetVersion: i.rulesFile,
    ...who(i),
  }),
});

/** 'reverted' appears only in a failure's details: the change was undone (unhealthy, unconfirmed or cancelled). */
export type NetworkRollbackOutcome = 'succeeded' | 'reverted' | 'rejected' | 'approval-timed-out' | 'already-on-target';

export interface NetworkRollbackResult {
  outcome: NetworkRollbackOutcome;
  workflowId: string;
  runId: string;
  host?: string;
  netns?: string;
  reason: string;
  requestedBy: string;
  target: TargetRules;
  before: RulesState;
  backup?: RulesBackup;
  applied?: RulesState;
  verification?: NetworkHealth;
  confirmation?: ConfirmRecord;
  /** Set when the previous rules were put back: from which backup, and what the live rules are now. */
  restored?: RestoredRules;
  approvals: ApprovalRecord[];
  confirmations: ConfirmRecord[];
  timeline: StepRecord[];
  startedAt: string;
  endedAt: string;
}

export function networkRollback(raw: NetworkRollbackInput): Promise<NetworkRollbackResult> {
  return withLifecycleNotifications((notifications) => runNetworkRollback(raw, notifications));
}

async function runNetworkRollback(
  raw: NetworkRollbackInput,
  notifications: RollbackNotifications,
): Promise<NetworkRollbackResult> {
  const info = workflowInfo();
  const progress = new Progress('infrastructure', `network:${typeof raw?.netns === 'string' ? raw.netns : 'host'}`);
  const approvals = progress.status.approvals;
  const gate = new ApprovalGate('infrastructure', approvals);
  const confirmations: ConfirmRecord[] = [];
  let awaitingConfirmation = false;
  let confirmed: ConfirmRecord | undefined;
  setHandler(
    confirmSignal,
    (s) => {
      const by = typeof s?.by === 'string' ? s.by.trim() : '';
      const rec: ConfirmRecord = {
        by: by || JSON.stringify(s?.by ?? ''),
        at: new Date().toISOString(),
        ...(typeof s?.comment === 'string' && s.comment !== '' ? { comment: s.comment.slice(0, 500) } : {}),
        accepted: false,
      };
      if (by === '' || CONTROL_OR_NEWLINE.test(by)) rec.refusal = 'by is required (one line)';
      else if (confirmed) rec.refusal = 'already confirmed';
      else if (!awaitingConfirmation)
        rec.refusal = 'not waiting for a confirmation (only after the change is verified)';
      else {
        rec.accepted = true;
        confirmed = rec;
      }
      confirmations.push(rec);
    },
    {
      description:
        'Keep the new iptables rules (the dead-man switch): without it in time they are reverted. ' +
        'Input: {"by":"bob","comment":"reachable from the office"} — comment optional.',
    },
  );

  const input: ValidInput = await openRollback(progress, networkScenario, raw, notifications);

  const { q, op, wait } = hostActivities(input.host, input.verifyTimeoutSeconds, input.hostWaitSeconds);
  const ns = input.netns ? { netns: input.netns } : {};
  const startedAt = new Date().toISOString();
  const base = {
    workflowId: info.workflowId,
    runId: info.runId,
    ...(input.host ? { host: input.host } : {}),
    ...ns,
    reason: input.reason,
    requestedBy: input.requestedBy,
    approvals,
    confirmations,
    timeline: progress.status.steps,
    startedAt,
  };
  const finish = (r: Omit<NetworkRollbackResult, keyof typeof base | 'endedAt'>): NetworkRollbackResult => ({
    ...base,
    ...r,
    endedAt: new Date().toISOString(),
  });

  // 1. Read-only: the target parses where it will be applied; what is live now.
  progress.setPhase('assessing');
  let target: TargetRules;
  let before: RulesState;
  try {
    target = await progress.step(
      'test-target-rules',
      () => q.iptablesCheckTarget({ rulesFile: input.rulesFile, ...ns }),
      (t) => `parses (iptables-restore --test): ${t.rules} rules in ${t.tables.join(', ') || 'no tables'}`,
    );
    before = await progress.step(
      'assess-current-rules',
      () => q.iptablesState(ns),
      (s) => `${s.rules} rules in ${s.tables.join(', ') || 'no tables'}`,
    );
  } catch (err) {
    throw failedBeforeAnyChange(progress, err);
  }
  if (before.canonicalSha256 === target.canonicalSha256) {
    progress.setPhase('completed');
    progress.note('rollback', 'skipped', 'the live rules already equal the rules file; nothing to do');
    return finish({ outcome: 'already-on-target', target, before });
  }

  // 2. Approval (director of engineering).
  const refused = await approvalRefused(progress, gate, input);
  if (refused) return finish({ outcome: refused, target, before });

  // 3–6. Backup, change, verify, dead-man window; the undo is pushed before the change.
  const undos: Undo[] = [];
  let backup: RulesBackup | undefined;
  let applied: RulesState | undefined;
  let verification: NetworkHealth | undefined;
  let restored: RestoredRules | undefined;
  try {
    progress.setPhase('rolling-back');
    const b = await progress.step(
      'backup-current-rules',
      () => op.iptablesBackup({ ...ns, name: `${info.workflowId}-${runSuffix(info.runId)}` }),
      (r) => `iptables-save → ${r.path} (${r.rules} rules)`,
    );
    backup = b;
    undos.push({
      name: `restore the previous rules from ${b.path}`,
      run: async () => {
        restored = await op.iptablesRestoreBackup({ backupPath: b.path, sha256: b.sha256, ...ns });
        return restored;
      },
      manual:
        `${input.netns ? `ip netns exec ${input.netns} ` : ''}iptables-restore ${b.path}` +
        `${input.host ? ` (on host ${input.host})` : ''} (sha256 ${b.sha256}), then check ${input.healthUrls.join(' ')}`,
    });
    applied = await progress.step(
      'apply-target-rules',
      () => op.iptablesApply({ rulesFile: input.rulesFile, sha256: target.sha256, ...ns }),
      (s) => `iptables-restore ${input.rulesFile}: ${s.rules} rules live`,
    );

    progress.setPhase('verifying');
    verification = await progress.step(
      'verify-health',
      () => wait.networkHealth({ urls: input.healthUrls, timeoutSeconds: input.verifyTimeoutSeconds, ...ns }),
      (v) => (v.healthy ? `all healthy after ${v.attempts} probe(s)` : `unhealthy after ${v.attempts} probe(s)`),
    );
    if (!verification.healthy) {
      const bad = verification.results.filter((r) => !r.last.ok);
      throw fail(
        FailureType.VerificationFailed,
        `with the new rules ${bad.map((r) => `${r.url} (${r.last.httpStatus ?? r.last.error ?? '?'})`).join(', ')} ` +
          `did not answer healthy within ${input.verifyTimeoutSeconds}s`,
      );
    }
    progress.restored('verify-health');

    // The dead-man switch: a workflow timer, durable across worker crashes.
    progress.setPhase('awaiting-confirmation');
    const deadline = new Date(Date.now() + input.confirmSeconds * 1000).toISOString();
    progress.status.waitingFor = {
      signal: confirmSignal.name,
      deadline,
      what: 'confirm the new rules, or they are reverted',
    };
    awaitingConfirmation = true;
    const got = await progress.step(
      'await-confirmation',
      () =>
        condition(() => confirmed !== undefined, input.confirmSeconds * 1000, {
          summary: `dead-man switch: confirm until ${deadline}, or the rules are reverted`,
        }),
      (ok) => (ok ? `confirmed by ${confirmed!.by}` : `no confirmation within ${input.confirmSeconds}s`),
    );
    awaitingConfirmation = false;
    delete progress.status.waitingFor;
    if (!got) {
      throw fail(FailureType.VerificationFailed, `nobody confirmed the new rules within ${input.confirmSeconds}s`);
    }
  } catch (err) {
    awaitingConfirmation = false;
    delete progress.status.waitingFor;
    let after: NetworkHealth | undefined;
    await CancellationScope.nonCancellable(() =>
      compensate(
        progress,
        undos,
        err,
        async () => {
          after = await progress
            .step('verify-restored-health', () =>
              wait.networkHealth({
                urls: input.healthUrls,
                timeoutSeconds: Math.min(input.verifyTimeoutSeconds, 30),
                ...ns,
              }),
            )
            .catch(() => undefined);
          return (
            `the previous rules from ${backup!.path} (${restored?.rules ?? '?'} rules` +
            `${restored?.removedTables.length ? `; removed tables ${restored.removedTables.join(', ')}` : ''}; ` +
            `live rules equal the backup), health ${after?.healthy ? 'OK' : 'NOT OK'}`
          );
        },
        () => ({
          result: finish({
            outcome: 'reverted',
            target,
            before,
            ...(backup ? { backup } : {}),
            ...(applied ? { applied } : {}),
            ...(verification ? { verification } : {}),
            ...(restored ? { restored } : {}),
          }),
          restoredHealth: after,
        }),
      ),
    );
    throw err; // unreachable: compensate always throws
  }

  progress.setPhase('completed');
  return finish({ outcome: 'succeeded', target, before, backup, applied, verification, confirmation: confirmed! });
}
