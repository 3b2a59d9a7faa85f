// Owns the dry-run plan of a rollback (`cortex-rollback plan <scenario>`, workflow planRollback): what is there now
// as read, the ordered steps (which change something, and their undo), the approvals the policy asks for, the
// backups the run takes (with the newest existing one's age and size), the expected downtime and the warnings —
// and its one rendering, which is both the CLI's text and the started rollback's static details in the Web UI.
// Invariants: a plan is built from read-only activities only (nothing changes, nobody is notified or asked);
// rendering is pure (ages are as of `plannedAt`, measured on the workflow's clock).
// Pure: used by the plan workflow (workflows/plans/) and the client.
import { decisionRefusal, rulesFor, type LoadedPolicy } from '../../common/approval-policy.ts';
import type { RollbackType } from '../../common/roles.ts';

export interface PlanStep {
  /** The step's name as the real run's status and timeline show it. */
  name: string;
  what: string;
  /** True when the step changes something (everything before the approval is read-only). */
  changes: boolean;
  /** How the run undoes it if a later step fails. */
  undo?: string;
}

export interface PlanApproval {
  role: string;
  /** Every role that may decide within the window. */
  approverRoles: string[];
  windowSeconds: number;
  /** Why this role: the runbook's classification, or the impact rule (impact > 1 h needs an engineering manager). */
  why: string;
  contact?: string;
  escalation?: string;
  /** `acknowledge` (emergencies): the rollback runs at once, a decision acknowledges it. */
  mode: 'approve' | 'acknowledge';
  preApproved?: string;
}

export interface PlanBackup {
  what: string;
  where: string;
  /** Estimated size of the backup the run would take, in bytes, and how it was estimated. */
  estimatedBytes?: number;
  estimate?: string;
  /** The newest backup of this kind that exists now. */
  newest?: { name: string; createdAt: string; ageSeconds: number; sizeBytes?: number };
  /** How many of this kind exist now. */
  existing?: number;
}

/** A backup file found on the worker's host (the listing activities' answer), oldest first. */
export interface FoundBackup {
  path: string;
  mtime: string;
  sizeBytes: number;
}

/** A PlanBackup's `existing` and `newest` from the backups of that kind found now. */
export function existingBackups(
  found: readonly FoundBackup[],
  now = Date.now(),
): Pick<PlanBackup, 'existing' | 'newest'> {
  const n = found.at(-1);
  return {
    existing: found.length,
    ...(n
      ? {
          newest: {
            name: n.path,
            createdAt: n.mtime,
            ageSeconds: Math.round((now - Date.parse(n.mtime)) / 1000),
            sizeBytes: n.sizeBytes,
          },
        }
      : {}),
  };
}

/** The size estimate of a backup the run would take: as the newest of its kind, or unknown when none exists. */
export function sizeLikeNewest(
  found: readonly FoundBackup[],
  kind: string,
): Pick<PlanBackup, 'estimatedBytes' | 'estimate'> {
  const n = found.at(-1);
  return n
    ? { estimatedBytes: n.sizeBytes, estimate: `(as the newest ${kind})` }
    : { estimate: `unknown: no earlier ${kind}` };
}

export interface PlanDowntime {
  /** Upper bound of the outage in seconds, where the scenario knows it; absent: no outage expected. */
  maxSeconds?: number;
  what: string;
  /** The runbook's duration for the type (Rollback Classification), from the approval policy. */
  runbook?: string;
}

/** What a scenario's planner returns; planRollback adds the approvals and the header. */
export interface PlanBody {
  /** What is there now, one line each, as the read-only steps found it. */
  current: string[];
  steps: PlanStep[];
  backups: PlanBackup[];
  expectedDowntime: PlanDowntime;
  warnings: string[];
  /** Set when the real run would end without changing anything (e.g. the target already runs). */
  nothingToDo?: string;
  /** The read-only activities the plan ran, in order. */
  reads: string[];
}

export interface Plan extends PlanBody {
  scenario: string;
  workflowType: string;
  rollbackType: RollbackType;
  plannedAt: string;
  approvals: PlanApproval[];
}

export interface PlanApprovalInput {
  timeoutSeconds?: number;
  preApproved?: { approver: string; role: string };
  expectedImpactMinutes?: number;
}

/** The approval the real run's gate would ask for, resolved from the same policy and input (approval.ts). */
export function planApproval(
  loaded: LoadedPolicy,
  type: RollbackType,
  a: PlanApprovalInput,
  requestedBy: string | undefined,
): { approval: PlanApproval; warnings: string[]; runbook: string } {
  const rules = rulesFor(loaded.policy, type, {
    ...(a.expectedImpactMinutes !== undefined ? { expectedImpactMinutes: a.expectedImpactMinutes } : {}),
    ...(a.timeoutSeconds !== undefined ? { maxWindowSeconds: a.timeoutSeconds } : {}),
  });
  const t = loaded.policy.types[type];
  const over = loaded.policy.impactRule.overMinutes;
  const why =
    rules.impactRuleApplied ??
    `runbook Rollback Classification: ${an(type)} ${type} rollback needs ${t.requiredRole} (expected impact ` +
      `${rules.expectedImpactMinutes} min, not over ${over} min)`;
  const e = rules.escalation;
  const warnings: string[] = [];
  let preApproved: string | undefined;
  if (a.preApproved) {
    const refusal = decisionRefusal(
      loaded.policy,
      rules,
      { approver: a.preApproved.approver, role: a.preApproved.role },
      { ...(requestedBy !== undefined ? { requestedBy } : {}), escalated: false },
    );
    preApproved = `${a.preApproved.approver} (${a.preApproved.role})`;
    if (refusal) warnings.push(`the pre-approval by ${preApproved} would be refused: ${refusal}`);
  }
  return {
    approval: {
      role: rules.requiredRole,
      approverRoles: rules.approverRoles,
      windowSeconds: rules.windowSeconds,
      why,
      contact: rules.contact.handle,
      ...(e
        ? {
            escalation:
              `after ${rules.windowSeconds}s undecided: ${e.notify.map((n) => n.handle).join(', ')} told` +
              `${e.addPeople.length || e.addRoles.length ? `, may also decide: ${[...e.addPeople, ...e.addRoles.map((r) => `role ${r}`)].join(', ')}` : ''}` +
              ` for ${e.windowSeconds}s more`,
          }
        : {}),
      mode: rules.mode,
      ...(preApproved ? { preApproved } : {}),
    },
    warnings,
    runbook: `runbook: ${an(type)} ${type} rollback takes ${t.durationMinutes[0]}–${t.durationMinutes[1]} min`,
  };
}

function an(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

export function bytesText(n: number | undefined): string {
  if (n === undefined) return 'size unknown';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function durationText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** The plan in one block for a running rollback's current details: what changes, the backup, the outage. */
export function planDetails(p: PlanBody): string {
  const changing = p.steps.filter((s) => s.changes).map((s) => s.name);
  const d = p.expectedDowntime;
  return (
    `**plan:** ${changing.length ? `changes ${changing.join(' → ')}` : 'no change'}` +
    `${p.backups.length ? `; backup: ${p.backups.map((b) => b.what).join('; ')}` : ''}` +
    `; downtime: ${d.maxSeconds !== undefined ? `up to ${durationText(d.maxSeconds)}` : d.what}` +
    `${p.warnings.length ? `; warnings: ${p.warnings.join('; ')}` : ''}`
  );
}

/** The plan as Markdown: the CLI prints it and a started rollback carries it as its static details. */
export function renderPlan(p: Plan): string {
  const out: string[] = [`**Plan** (dry run: read-only steps only, nothing was changed)`, ''];
  if (p.current.length) out.push('Now:', ...p.current.map((c) => `- ${c}`), '');
  if (p.nothingToDo) out.push(`**Nothing to do:** ${p.nothingToDo}`, '');
  out.push('Steps:');
  p.steps.forEach((s, i) =>
    out.push(
      `${i + 1}. ${s.name} — ${s.what}${s.changes ? ' **[changes]**' : ' [read-only]'}${s.undo ? ` (undo: ${s.undo})` : ''}`,
    ),
  );
  out.push('', 'Approvals:');
  if (p.approvals.length === 0) out.push('- none');
  for (const a of p.approvals) {
    const who =
      a.mode === 'acknowledge'
        ? `runs at once; ${a.approverRoles.join(' or ')} acknowledges within ${a.windowSeconds}s`
        : `${a.approverRoles.join(' or ')} within ${a.windowSeconds}s`;
    out.push(
      `- ${a.role}: ${who}${a.contact ? `, asked: ${a.contact}` : ''} — ${a.why}` +
        `${a.escalation ? `; escalation: ${a.escalation}` : ''}${a.preApproved ? `; pre-approved by ${a.preApproved}` : ''}`,
    );
  }
  out.push('', 'Backups taken:');
  if (p.backups.length === 0) out.push('- none');
  for (const b of p.backups) {
    const est = b.estimatedBytes !== undefined ? `~${bytesText(b.estimatedBytes)}` : undefined;
    const size = [est, b.estimate].filter(Boolean).join(' ');
    const n = b.newest;
    const newest = n
      ? `; newest existing: ${n.name}, ${durationText(n.ageSeconds)} old (${n.createdAt})` +
        `${n.sizeBytes !== undefined ? `, ${bytesText(n.sizeBytes)}` : ''}${b.existing !== undefined ? `, ${b.existing} in all` : ''}`
      : b.existing === 0
        ? '; none exists yet'
        : '';
    out.push(`- ${b.what} → ${b.where}${size ? `; size: ${size}` : ''}${newest}`);
  }
  const d = p.expectedDowntime;
  out.push(
    '',
    `Expected downtime: ${d.maxSeconds !== undefined ? `up to ${durationText(d.maxSeconds)}: ` : ''}${d.what}` +
      `${d.runbook ? ` (${d.runbook})` : ''}`,
  );
  if (p.warnings.length) out.push('', 'Warnings:', ...p.warnings.map((w) => `- ${w}`));
  return out.join('\n');
}
