// Owns the rollback report (the runbook's "Rollback Report Template"), rendered as Markdown from a workflow's
// result or failure and its status. Facts only from the workflow; the sections a human must write (impact, root
// cause, lessons) are left as headed placeholders.
import type { DockerRollbackResult } from '../workflows/application/docker-container.ts';
import type { TerraformRollbackResult } from '../workflows/infrastructure/terraform.ts';
import type { RollbackStatus } from '../workflows/phases/progress.ts';
import { approvalLine, type ApprovalPolicyRecord } from '../workflows/phases/approval.ts';
import type { ResultOrFailure } from './client.ts';

const box = (done: boolean) => (done ? '[x]' : '[ ]');
/** A version's identity: the image id (Docker) or the rollout revision and its ReplicaSet (Kubernetes). */
const identity = (v: { imageId?: string; revision?: number; newRevision?: number; replicaSet?: string }) =>
  v.imageId ??
  `revision ${v.revision ?? '?'}${v.newRevision ? `, now revision ${v.newRevision}` : ''}${v.replicaSet ? `, ReplicaSet ${v.replicaSet}` : ''}`;

export function renderReport(status: RollbackStatus, outcome: ResultOrFailure<unknown>): string {
  const steps = status.steps;
  const has = (name: string) => steps.some((s) => s.name.startsWith(name) && s.state === 'completed');
  const started = steps[0]?.startedAt ?? '?';
  const ended = steps.at(-1)?.endedAt ?? steps.at(-1)?.startedAt ?? '?';
  const r = outcome.ok ? (outcome.result as Partial<DockerRollbackResult> & { outcome?: string }) : undefined;
  const day = started.slice(0, 10).replace(/-/g, '');
  const lines = [
    '# Rollback Report',
    '',
    '## Executive Summary',
    `- **Incident ID**: INC-${day}-${status.workflowId}`,
    `- **Rollback Type**: ${status.rollbackType}`,
    `- **Target**: ${status.target}`,
    `- **Trigger**: ${r?.reason ?? '(see workflow input)'}`,
    `- **Requested by**: ${r?.requestedBy ?? '(see workflow input)'}`,
    `- **Duration**: ${started} to ${ended}`,
    `- **Outcome**: ${outcome.ok ? (r?.outcome ?? 'succeeded') : `FAILED (${outcome.type}): ${outcome.message}`}`,
    `- **Workflow**: ${status.workflowType} ${status.workflowId} (run ${status.runId})`,
    '',
    '## Rollback Details',
  ];
  const commits = outcome.ok ? (outcome.result as Partial<TerraformRollbackResult>) : undefined;
  if (commits?.from?.sha && commits.to?.sha) {
    lines.push(
      '### Source Version',
      `- **Commit**: ${commits.from.sha} "${commits.from.subject}"`,
      '### Target Version',
      `- **Commit**: ${commits.to.sha} "${commits.to.subject}"`,
    );
  } else if (r?.from && r.to) {
    lines.push(
      '### Source Version',
      `- **Version**: ${r.from.image} (${identity(r.from)})`,
      '### Target Version',
      `- **Version**: ${r.to.image} (${identity(r.to)})${r.to.version ? `, ${r.to.version}` : ''}`,
    );
  } else {
    lines.push('(see the workflow result for the versions or backups involved)');
  }
  lines.push(
    '',
    '## Rollback Process',
    '### Pre-Rollback Actions',
    `- ${box(has('assess'))} Impact assessment completed`,
    `- ${box(has('backup') || has('preserve') || has('emergency-export'))} Backup created (or current state preserved)`,
    `- ${box(status.approvals.some((a) => a.decision === 'approved'))} Approved`,
    '### Rollback Execution',
    ...steps.map(
      (s) =>
        `- ${box(s.state === 'completed')} ${s.name} — ${s.state}${s.detail ? `: ${s.detail}` : ''} (${s.startedAt})`,
    ),
    ...(status.plan
      ? [
          '### Plan',
          `- plan ${status.plan.id} of ${status.plan.commit} (from state serial ${status.plan.state.serial}):`,
          ...status.plan.changes.map((c) => `  - ${c.address}: ${c.action}`),
        ]
      : []),
    '### Approvals',
    ...(status.approvalPolicy ? policyLines(status.approvalPolicy) : []),
    ...(status.approvals.length ? status.approvals.map((a) => `- ${approvalLine(a)}`) : ['- none recorded']),
    '### Post-Rollback Verification',
    `- ${box(has('verify'))} Health / data verified`,
    `- ${box(has('monitor'))} Monitoring stable${r?.monitoring ? ` (${r.monitoring.samples} samples, ${r.monitoring.failures} failed)` : ''}`,
  );
  if (status.error) lines.push('', '## Error', status.error);
  lines.push(
    '',
    '## Impact Assessment',
    '(to be written)',
    '',
    '## Root Cause Analysis',
    '(to be written)',
    '',
    '## Lessons Learned',
    '(to be written)',
    '',
  );
  return lines.join('\n');
}

function policyLines(p: ApprovalPolicyRecord): string[] {
  const r = p.rules;
  const e = r.escalation;
  return [
    `- policy: ${p.path} (sha256 ${p.sha256})`,
    `- approvers: ${r.approverRoles.join(' or ')} within ${r.windowSeconds}s, asked ${r.contact.handle}` +
      `${r.impactRuleApplied ? ` (${r.impactRuleApplied})` : ''}${r.fourEyes ? '; the requester may not decide' : ''}`,
    e
      ? `- escalation: ${e.notify.map((n) => n.handle).join(', ')} for ${e.windowSeconds}s more` +
        `${e.addPeople.length || e.addRoles.length ? `, also deciding: ${[...e.addPeople, ...e.addRoles].join(', ')}` : ''}`
      : '- escalation: none',
  ];
}
