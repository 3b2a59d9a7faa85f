// Owns the rollback report (the runbook's "Rollback Report Template"), built from a workflow's status and its
// result or failure: every section of the template, as a JSON object (`report --json`) and as Markdown. Facts only
// from the run; what the run cannot know (affected users, complaints, revenue) says so instead of guessing, and
// the action items always include writing the root cause analysis. A box is ticked only on the run's own record:
// "Stakeholders notified" when a notification reached a channel (not when none is configured), "Health checks
// passed" when the step that verifies the target after the change found it healthy (the step marked `restores`).
// Time to restore (start → verified healthy) is held to the runbook's target for the rollback type; time to close
// (start → end, the approval wait and the watch included) is reported beside it.
import { restoreTargetMinutes } from '../common/outcomes.ts';
import type { DockerRollbackResult } from '../workflows/application/docker-container.ts';
import type { FleetStatus } from '../workflows/application/fleet-plan.ts';
import type { TerraformRollbackResult } from '../workflows/infrastructure/terraform.ts';
import type { MonitorSummary } from '../workflows/phases/monitor.ts';
import type { RollbackStatus, StepRecord } from '../workflows/phases/progress.ts';
import { approvalLine, type ApprovalPolicyRecord } from '../workflows/phases/approval.ts';
import type { VerificationCheck, VerificationResult } from '../workflows/verification/post-rollback.ts';
import type { ResultOrFailure } from './client.ts';

/** The runbook's Appendix C targets the report measures the run against (time to restore: restoreTargetMinutes). */
export const TARGETS = { mttrMinutes: 30, downtimeMinutes: 15 };

const NOT_KNOWN = 'not known to the workflow (to be filled in)';
export const OWNER_FILLS = 'to be filled in by the incident owner';

/** Channels a notification reached, from its step's detail ("slack delivered, pagerduty not-configured"). */
const REACHED = /\b(slack|pagerduty) (delivered|already-delivered)\b/g;

export interface ReportCheck {
  label: string;
  done: boolean;
  evidence?: string;
}

export interface RollbackReport {
  executiveSummary: {
    incidentId: string;
    rollbackType: string;
    target: string;
    trigger: string;
    requestedBy: string;
    start: string;
    end: string;
    durationMinutes?: number;
    /** Start → the target verified healthy after the change; absent when it never was. */
    timeToRestoreMinutes?: number;
    /** The runbook's target for this rollback type (database: 2 h; otherwise 30 min). */
    restoreTargetMinutes: number;
    /** Start → end: the approval wait, the cleanup and the post-rollback watch included. */
    timeToCloseMinutes?: number;
    outcome: string;
    impact: string;
    workflow: string;
  };
  rollbackDetails: {
    source: { version: string; deploymentTime: string; issuesIdentified: string[] };
    target: { version: string; lastKnownGood: string; featuresLost: string };
    /** Terraform: the plan the director approved (resource changes per address). */
    plan?: { id: string; commit: string; fromSerial: number; changes: string[] };
  };
  rollbackProcess: {
    preRollbackActions: ReportCheck[];
    rollbackExecution: ReportCheck[];
    postRollbackVerification: ReportCheck[];
    timeline: StepRecord[];
    approvals: string[];
    verificationChecks: VerificationCheck[];
    watch?: { samples: number; failures: number; breached: boolean; alerts: string[] };
  };
  /** A fleet rollback: each target's outcome and timing, the waves and the error budget. */
  fleet?: FleetReport;
  impactAssessment: {
    userImpact: { affectedUsers: string; durationOfImpact: string; customerComplaints: string; slaImpact: string };
    businessImpact: { revenueImpact: string; brandImpact: string; operationalImpact: string };
  };
  rootCauseAnalysis: { primaryCause: string; contributingFactors: string[]; detectionGaps: string };
  lessonsLearned: { wentWell: string[]; areasForImprovement: string[]; actionItems: string[] };
  /** The template's Preventive Measures: the owner's to write; what the run saw is listed under each to start from. */
  preventiveMeasures: {
    technicalImprovements: string[];
    processImprovements: string[];
    monitoringImprovements: string[];
  };
  error?: string;
}

export interface FleetReport {
  summary: string;
  waves: string[];
  targets: Array<{
    target: string;
    wave: string;
    outcome: string;
    startedAt?: string;
    endedAt?: string;
    seconds?: number;
    child: string;
    detail?: string;
  }>;
}

function fleetReport(f: FleetStatus): FleetReport {
  const secs = (a?: string, b?: string) => {
    const d = a && b ? (Date.parse(b) - Date.parse(a)) / 1000 : NaN;
    return Number.isFinite(d) ? Math.round(d * 10) / 10 : undefined;
  };
  const count = (p: string) => f.targets.filter((t) => t.phase === p).length;
  return {
    summary:
      `${f.targets.length} targets → ${f.targetImage}: ${count('succeeded')} succeeded, ${count('already-on-target')} already there, ` +
      `${count('failed') + count('conflict')} failed, ${count('reverted')} reverted, ${count('revert-failed')} revert(s) failed, ` +
      `${count('skipped')} never touched; ${f.errors} error(s) of ${f.maxErrors} allowed, max ${f.maxConcurrency} at once` +
      (f.halted ? `; HALTED: ${f.halted.reason}` : ''),
    waves: f.waves.map(
      (w) =>
        `${w.name} (${w.spec}, ${w.targets} targets): ${w.state}${w.startedAt ? ` ${w.startedAt} → ${w.endedAt ?? '…'}` : ''}`,
    ),
    targets: f.targets.map((t) => {
      const end = t.revert?.endedAt ?? t.endedAt;
      const seconds = secs(t.startedAt, end);
      const detail = [t.detail, t.revert?.detail ? `revert: ${t.revert.detail}` : undefined].filter(Boolean).join('; ');
      return {
        target: `${t.host}/${t.container}`,
        wave: t.wave,
        outcome: t.phase,
        ...(t.startedAt ? { startedAt: t.startedAt } : {}),
        ...(end ? { endedAt: end } : {}),
        ...(seconds !== undefined ? { seconds } : {}),
        child: t.childWorkflowId,
        ...(detail ? { detail } : {}),
      };
    }),
  };
}

interface VersionRef {
  image?: string;
  imageId?: string;
  sha?: string;
  subject?: string;
  version?: string;
  revision?: number;
  /** Kubernetes: the revision number the rollback gave it, and its ReplicaSet. */
  newRevision?: number;
  replicaSet?: string;
}
type AnyResult = Partial<Omit<DockerRollbackResult, 'from' | 'to'>> &
  Partial<Pick<TerraformRollbackResult, 'repo'>> & {
    outcome?: string;
    from?: VersionRef;
    to?: VersionRef;
    postVerification?: VerificationResult;
    monitoring?: MonitorSummary;
  };

const minutes = (a: string, b: string) => {
  const ms = Date.parse(b) - Date.parse(a);
  return Number.isFinite(ms) ? Math.round((ms / 60000) * 10) / 10 : undefined;
};

/** A version's identity: the image id (Docker), a commit, or the rollout revision (Kubernetes). */
function describeVersion(v: VersionRef | undefined): string {
  if (!v) return '(see the workflow result)';
  if (v.sha) return `commit ${v.sha}${v.subject ? ` "${v.subject}"` : ''}`;
  const revision = () =>
    `revision ${v.revision ?? '?'}${v.newRevision ? `, now revision ${v.newRevision}` : ''}` +
    `${v.replicaSet ? `, ReplicaSet ${v.replicaSet}` : ''}`;
  if (v.image) return `${v.image} (${v.imageId ?? revision()})`;
  return v.revision !== undefined ? `revision ${v.revision}` : '(see the workflow result)';
}

export function buildReport(status: RollbackStatus, outcome: ResultOrFailure<unknown>): RollbackReport {
  const steps = status.steps;
  const done = (prefix: string) => steps.find((s) => s.name.startsWith(prefix) && s.state === 'completed');
  const any = (...prefixes: string[]) => prefixes.map(done).find((s) => s !== undefined);
  const start = steps[0]?.startedAt ?? '?';
  const end = steps.at(-1)?.endedAt ?? steps.at(-1)?.startedAt ?? '?';
  const failureDetails = !outcome.ok ? (outcome.details as AnyResult | VerificationResult | undefined) : undefined;
  const r: AnyResult | undefined = outcome.ok
    ? (outcome.result as AnyResult)
    : failureDetails && 'outcome' in failureDetails
      ? failureDetails
      : undefined;
  const post: VerificationResult | undefined =
    r?.postVerification ?? (failureDetails && 'checks' in failureDetails ? failureDetails : undefined);
  const checks = post?.checks ?? [];
  const watch = r?.monitoring;
  const alerts = (watch?.alerts ?? []).map((a) => `${a.at}: ${a.rule} ${a.figure} (${a.limit})`);
  const failedChecks = checks.filter((c) => c.status === 'fail');
  const outcomeText = outcome.ok ? (r?.outcome ?? 'succeeded') : `FAILED (${outcome.type}): ${outcome.message}`;
  const durationMinutes = minutes(start, end);

  // The target verified healthy after the change: the step the run marked so; a run from before the mark, its
  // completed verify step unless that step recorded the target unhealthy.
  const healthy =
    steps.find((s) => s.restores === true) ??
    [done('verify-health') ?? done('verify')].find(
      (s) => s !== undefined && !/unhealthy|not healthy|not complete|remain/i.test(s.detail ?? ''),
    );
  const restoredAt = healthy ? (healthy.endedAt ?? healthy.startedAt) : undefined;
  const timeToRestore = restoredAt ? minutes(start, restoredAt) : undefined;
  const restoreTarget = restoreTargetMinutes(status.rollbackType);
  const healthEvidence = healthy
    ? undefined
    : (() => {
        const v = done('verify-health') ?? done('verify') ?? steps.find((s) => /^verify/.test(s.name));
        return v ? `${v.name} ${v.state}${v.detail ? `: ${v.detail}` : ''}` : 'no health verification recorded';
      })();
  // Stakeholders: a notification that reached a channel; a run without channels notified no one.
  const notifySteps = steps.filter((s) => s.name.startsWith('notify-') && s.state === 'completed');
  const reached = notifySteps.filter((s) => (s.detail ?? '').match(REACHED));
  const notifyEvidence = reached.length
    ? reached.map((s) => `${s.name}: ${[...(s.detail ?? '').matchAll(REACHED)].map((m) => m[0]).join(', ')}`).join('; ')
    : notifySteps.length
      ? `no notification channel reached (${notifySteps[0]!.detail ?? 'no detail'}): configure CORTEX_SLACK_WEBHOOK_URL or CORTEX_PAGERDUTY_ROUTING_KEY`
      : 'no notification sent';

  // Downtime: from the moment the serving container/service was stopped until the target answered healthy.
  const stopped = steps.find((s) => /^stop-|^(restart|swap)-/.test(s.name));
  const healthyAgain = healthy;
  const downtime = stopped && healthyAgain?.endedAt ? minutes(stopped.startedAt, healthyAgain.endedAt) : undefined;
  const before = steps.find((s) => s.name === 'assess-current-health');
  const impact =
    (before?.detail ? `before the rollback the service was ${before.detail}; ` : '') +
    (downtime !== undefined
      ? `service interrupted for ${downtime} min while switching versions`
      : 'no interruption recorded by the workflow') +
    (outcome.ok ? '' : `; the rollback failed: ${outcome.message}`);

  const issues = [
    ...(r?.reason ? [`trigger: ${r.reason}`] : []),
    ...(before?.detail && !/^healthy/.test(before.detail) ? [`health before the rollback: ${before.detail}`] : []),
    ...steps.filter((s) => s.state === 'failed').map((s) => `step ${s.name} failed: ${s.detail ?? ''}`),
    ...failedChecks.map((c) => `verification ${c.name}: ${c.figure} (limit ${c.limit ?? '-'})`),
    ...alerts.map((a) => `watch alert ${a}`),
    ...(watch?.breached ? [`watch breached: ${watch.maxConsecutiveFailures} consecutive failed health samples`] : []),
  ];
  const check = (label: string, step: StepRecord | undefined | boolean, evidence?: string): ReportCheck => ({
    label,
    done: typeof step === 'boolean' ? step : step !== undefined,
    ...(evidence ? { evidence } : typeof step === 'object' && step.detail ? { evidence: step.detail } : {}),
  });
  const passed = (pred: (c: VerificationCheck) => boolean) => {
    const cs = checks.filter(pred);
    return cs.length > 0 && cs.every((c) => c.status === 'pass')
      ? cs.map((c) => `${c.name}: ${c.figure}`).join('; ')
      : undefined;
  };
  const functional = passed((c) => c.name === 'service-health' || c.name.startsWith('memory-store'));
  const performance = passed((c) => c.name.includes('response-time') || c.name === 'memory');
  const integrity = passed((c) => c.name.startsWith('data-integrity'));
  const monitorStep = done('monitor');

  const wentWell = [
    ...(outcome.ok && timeToRestore !== undefined && timeToRestore < restoreTarget
      ? [
          `restored in ${timeToRestore} min: start → verified healthy (target < ${restoreTarget} min for ${status.rollbackType})`,
        ]
      : []),
    ...(downtime !== undefined && downtime < TARGETS.downtimeMinutes
      ? [`downtime ${downtime} min (target < ${TARGETS.downtimeMinutes} min)`]
      : []),
    ...(post?.passed ? [`all ${checks.length} post-rollback checks passed`] : []),
    ...(watch && !watch.breached && alerts.length === 0 ? [`watch stable: ${watch.samples} samples, no alert`] : []),
    ...(outcome.ok ? [] : steps.filter((s) => s.state === 'compensated').map((s) => `undone: ${s.name}`)),
  ];
  const improve = [
    ...(timeToRestore !== undefined && timeToRestore >= restoreTarget
      ? [
          `restoring took ${timeToRestore} min: start → verified healthy (target < ${restoreTarget} min for ${status.rollbackType})`,
        ]
      : []),
    ...issues.filter((i) => !i.startsWith('trigger:')),
  ];
  const owner = r?.requestedBy ?? 'the requester';
  const due = (days: number) => {
    const t = Date.parse(end);
    return Number.isFinite(t) ? new Date(t + days * 86400000).toISOString().slice(0, 10) : '?';
  };
  const actions = [
    `[ ] Write the root cause analysis of ${r?.from ? describeVersion(r.from) : status.target} - Owner: ${owner} - Due: ${due(2)}`,
    ...(r?.preservedContainer && !r.preservedRemoved
      ? [`[ ] Decide on the kept previous container '${r.preservedContainer}' - Owner: ${owner} - Due: ${due(1)}`]
      : []),
    ...failedChecks.map((c) => `[ ] Fix verification check ${c.name} (${c.figure}) - Owner: ${owner} - Due: ${due(1)}`),
    ...(watch?.alerts ?? []).map(
      (a) => `[ ] Investigate the ${a.rule} alert at ${a.at} - Owner: ${owner} - Due: ${due(1)}`,
    ),
    ...(!outcome.ok ? [`[ ] Resolve the failed rollback: ${outcome.message} - Owner: ${owner} - Due: ${due(0)}`] : []),
  ];

  return {
    executiveSummary: {
      incidentId: `INC-${start.slice(0, 10).replace(/-/g, '')}-${status.workflowId}`,
      rollbackType: status.rollbackType,
      target: status.target,
      trigger: r?.reason ?? '(see workflow input)',
      requestedBy: r?.requestedBy ?? '(see workflow input)',
      start,
      end,
      ...(durationMinutes !== undefined ? { durationMinutes } : {}),
      ...(timeToRestore !== undefined ? { timeToRestoreMinutes: timeToRestore } : {}),
      restoreTargetMinutes: restoreTarget,
      ...(durationMinutes !== undefined ? { timeToCloseMinutes: durationMinutes } : {}),
      outcome: outcomeText,
      impact,
      workflow: `${status.workflowType} ${status.workflowId} (run ${status.runId})`,
    },
    rollbackDetails: {
      source: {
        version: describeVersion(r?.from),
        deploymentTime: NOT_KNOWN,
        issuesIdentified: issues.length ? issues : ['none recorded'],
      },
      target: {
        version: `${describeVersion(r?.to)}${r?.to?.version ? `, ${r.to.version}` : ''}`,
        lastKnownGood: NOT_KNOWN,
        featuresLost: `every change between ${r?.to?.image ?? r?.to?.sha ?? 'the target'} and ${r?.from?.image ?? r?.from?.sha ?? 'the source'} (${NOT_KNOWN})`,
      },
      ...(status.plan
        ? {
            plan: {
              id: status.plan.id,
              commit: status.plan.commit,
              fromSerial: status.plan.state.serial,
              changes: status.plan.changes.map((c) => `${c.address}: ${c.action}`),
            },
          }
        : {}),
    },
    rollbackProcess: {
      preRollbackActions: [
        check('Impact assessment completed', done('assess')),
        check('Backup created', any('backup', 'preserve', 'emergency-export', 'snapshot')),
        check('Rollback plan documented', steps.length > 0, `${steps.length} steps in the timeline`),
        check('Stakeholders notified', reached.length > 0, notifyEvidence),
      ],
      rollbackExecution: [
        check('Services stopped', any('stop-', 'preserve')),
        check('Configuration restored', any('run-target', 'restore', 'apply', 'swap', 'undo', 'switch')),
        check('Services restarted', any('run-target', 'restart', 'start-')),
        check('Health checks passed', healthy, healthEvidence),
      ],
      postRollbackVerification: [
        check(
          'Basic functionality verified',
          functional !== undefined || healthy !== undefined,
          functional ?? healthEvidence,
        ),
        check('Performance validated', performance !== undefined, performance),
        check('Data integrity confirmed', integrity !== undefined, integrity),
        check(
          'Monitoring stable',
          monitorStep !== undefined && !watch?.breached && alerts.length === 0,
          watch ? `${watch.samples} samples, ${watch.failures} failed, ${alerts.length} alert(s)` : monitorStep?.detail,
        ),
      ],
      timeline: steps,
      approvals: [
        ...(status.approvalPolicy ? policyLines(status.approvalPolicy) : []),
        ...status.approvals.map((a) => approvalLine(a)),
      ],
      verificationChecks: checks,
      ...(watch
        ? { watch: { samples: watch.samples, failures: watch.failures, breached: watch.breached, alerts } }
        : {}),
    },
    impactAssessment: {
      userImpact: {
        affectedUsers: NOT_KNOWN,
        durationOfImpact: downtime !== undefined ? `${downtime} min (measured by the workflow)` : NOT_KNOWN,
        customerComplaints: NOT_KNOWN,
        slaImpact:
          downtime !== undefined
            ? `${downtime} min of downtime against the ${TARGETS.downtimeMinutes} min target${downtime < TARGETS.downtimeMinutes ? ' (within)' : ' (EXCEEDED)'}`
            : NOT_KNOWN,
      },
      businessImpact: { revenueImpact: NOT_KNOWN, brandImpact: NOT_KNOWN, operationalImpact: impact },
    },
    rootCauseAnalysis: {
      primaryCause: r?.reason ? `reported trigger: ${r.reason} (${NOT_KNOWN} beyond that)` : NOT_KNOWN,
      contributingFactors: issues.filter((i) => !i.startsWith('trigger:')),
      detectionGaps: NOT_KNOWN,
    },
    lessonsLearned: { wentWell, areasForImprovement: improve, actionItems: actions },
    preventiveMeasures: {
      technicalImprovements: [
        OWNER_FILLS,
        ...failedChecks.map((c) => `seen in this run: verification ${c.name} failed (${c.figure})`),
        ...steps.filter((s) => s.state === 'failed').map((s) => `seen in this run: step ${s.name} failed`),
      ],
      processImprovements: [
        OWNER_FILLS,
        ...(() => {
          const a = steps.find((s) => s.name === 'approval');
          const waited = a?.endedAt ? minutes(a.startedAt, a.endedAt) : undefined;
          return waited !== undefined && waited > 0
            ? [`seen in this run: the approval took ${waited} min (${a?.detail ?? a?.state})`]
            : [];
        })(),
        ...(reached.length === 0 ? [`seen in this run: ${notifyEvidence}`] : []),
      ],
      monitoringImprovements: [
        OWNER_FILLS,
        ...alerts.map((a) => `seen in this run: watch alert ${a}`),
        ...(watch?.breached ? ['seen in this run: the watch breached after the change'] : []),
      ],
    },
    ...(status.fleet ? { fleet: fleetReport(status.fleet) } : {}),
    ...(status.error ? { error: status.error } : {}),
  };
}

const box = (c: ReportCheck) => `- [${c.done ? 'x' : ' '}] ${c.label}${c.evidence ? ` — ${c.evidence}` : ''}`;
const list = (items: string[], empty = 'none') => (items.length ? items.map((i) => `- ${i}`) : [`- ${empty}`]);

export function renderReport(status: RollbackStatus, outcome: ResultOrFailure<unknown>): string {
  return reportMarkdown(buildReport(status, outcome));
}

export function reportMarkdown(rep: RollbackReport): string {
  const e = rep.executiveSummary;
  const p = rep.rollbackProcess;
  const u = rep.impactAssessment.userImpact;
  const b = rep.impactAssessment.businessImpact;
  return [
    '# Rollback Report',
    '',
    '## Executive Summary',
    `- **Incident ID**: ${e.incidentId}`,
    `- **Rollback Type**: ${e.rollbackType}`,
    `- **Target**: ${e.target}`,
    `- **Trigger**: ${e.trigger}`,
    `- **Requested by**: ${e.requestedBy}`,
    `- **Duration**: ${e.start} to ${e.end}${e.durationMinutes !== undefined ? ` (${e.durationMinutes} min)` : ''}`,
    `- **Time to Restore**: ${
      e.timeToRestoreMinutes !== undefined
        ? `${e.timeToRestoreMinutes} min, start → verified healthy (target < ${e.restoreTargetMinutes} min: ${e.timeToRestoreMinutes < e.restoreTargetMinutes ? 'MET' : 'MISSED'})`
        : `not restored: the target was never verified healthy (target < ${e.restoreTargetMinutes} min)`
    }`,
    `- **Time to Close**: ${e.timeToCloseMinutes !== undefined ? `${e.timeToCloseMinutes} min` : '?'}, start → end (approval wait, cleanup and watch included)`,
    `- **Outcome**: ${e.outcome}`,
    `- **Impact**: ${e.impact}`,
    `- **Workflow**: ${e.workflow}`,
    '',
    '## Rollback Details',
    '### Source Version',
    `- **Version**: ${rep.rollbackDetails.source.version}`,
    `- **Deployment Time**: ${rep.rollbackDetails.source.deploymentTime}`,
    '- **Issues Identified**:',
    ...rep.rollbackDetails.source.issuesIdentified.map((i) => `  - ${i}`),
    '### Target Version',
    `- **Version**: ${rep.rollbackDetails.target.version}`,
    `- **Last Known Good**: ${rep.rollbackDetails.target.lastKnownGood}`,
    `- **Features Lost**: ${rep.rollbackDetails.target.featuresLost}`,
    ...(rep.rollbackDetails.plan
      ? [
          '### Plan',
          `- plan ${rep.rollbackDetails.plan.id} of ${rep.rollbackDetails.plan.commit} (from state serial ${rep.rollbackDetails.plan.fromSerial}):`,
          ...rep.rollbackDetails.plan.changes.map((c) => `  - ${c}`),
        ]
      : []),
    '',
    '## Rollback Process',
    '### Pre-Rollback Actions',
    ...p.preRollbackActions.map(box),
    '### Rollback Execution',
    ...p.rollbackExecution.map(box),
    '#### Timeline',
    ...p.timeline.map(
      (s) =>
        `- [${s.state === 'completed' ? 'x' : ' '}] ${s.name} — ${s.state}${s.detail ? `: ${s.detail}` : ''} (${s.startedAt})`,
    ),
    '#### Approvals',
    ...list(p.approvals, 'none recorded'),
    '### Post-Rollback Verification',
    ...p.postRollbackVerification.map(box),
    ...(p.verificationChecks.length
      ? [
          '',
          '| Check | Result | Figure | Limit |',
          '| --- | --- | --- | --- |',
          ...p.verificationChecks.map(
            (c) => `| ${c.name} | ${c.status.toUpperCase()} | ${c.figure.replace(/\|/g, '\\|')} | ${c.limit ?? ''} |`,
          ),
          ...p.verificationChecks
            .filter((c) => c.output)
            .flatMap((c) => [
              '',
              `<details><summary>${c.name} output</summary>`,
              '',
              '```',
              c.output!,
              '```',
              '</details>',
            ]),
        ]
      : []),
    ...(p.watch ? ['#### Watch alerts', ...list(p.watch.alerts)] : []),
    ...(rep.fleet ? fleetMarkdown(rep.fleet) : []),
    ...(rep.error ? ['', '## Error', rep.error] : []),
    '',
    '## Impact Assessment',
    '### User Impact',
    `- **Affected Users**: ${u.affectedUsers}`,
    `- **Duration of Impact**: ${u.durationOfImpact}`,
    `- **Customer Complaints**: ${u.customerComplaints}`,
    `- **SLA Impact**: ${u.slaImpact}`,
    '### Business Impact',
    `- **Revenue Impact**: ${b.revenueImpact}`,
    `- **Brand Impact**: ${b.brandImpact}`,
    `- **Operational Impact**: ${b.operationalImpact}`,
    '',
    '## Root Cause Analysis',
    '### Primary Cause',
    rep.rootCauseAnalysis.primaryCause,
    '### Contributing Factors',
    ...list(rep.rootCauseAnalysis.contributingFactors, 'none recorded by the workflow'),
    '### Detection Gaps',
    rep.rootCauseAnalysis.detectionGaps,
    '',
    '## Lessons Learned',
    '### What Went Well',
    ...list(rep.lessonsLearned.wentWell, 'to be written'),
    '### Areas for Improvement',
    ...list(rep.lessonsLearned.areasForImprovement, 'none recorded by the workflow'),
    '### Action Items',
    ...rep.lessonsLearned.actionItems.map((a) => `- ${a}`),
    '',
    '## Preventive Measures',
    '### Technical Improvements',
    ...list(rep.preventiveMeasures.technicalImprovements),
    '### Process Improvements',
    ...list(rep.preventiveMeasures.processImprovements),
    '### Monitoring Improvements',
    ...list(rep.preventiveMeasures.monitoringImprovements),
    '',
  ].join('\n');
}

function fleetMarkdown(f: FleetReport): string[] {
  const cell = (s: string | undefined) => (s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    '### Fleet Targets',
    f.summary,
    '',
    ...f.waves.map((w) => `- wave ${w}`),
    '',
    '| Target | Wave | Outcome | Started | Ended | Seconds | Child workflow | Detail |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...f.targets.map(
      (t) =>
        `| ${t.target} | ${t.wave} | ${t.outcome} | ${t.startedAt ?? ''} | ${t.endedAt ?? ''} | ${t.seconds ?? ''} | ${t.child} | ${cell(t.detail)} |`,
    ),
  ];
}

/** The approval policy a run used (path, hash, who was asked, escalation), for the report's approvals list. */
function policyLines(p: ApprovalPolicyRecord): string[] {
  const r = p.rules;
  const e = r.escalation;
  return [
    `policy: ${p.path} (sha256 ${p.sha256})`,
    `approvers: ${r.approverRoles.join(' or ')} within ${r.windowSeconds}s, asked ${r.contact.handle}` +
      `${r.impactRuleApplied ? ` (${r.impactRuleApplied})` : ''}${r.fourEyes ? '; the requester may not decide' : ''}`,
    e
      ? `escalation: ${e.notify.map((n) => n.handle).join(', ')} for ${e.windowSeconds}s more` +
        `${e.addPeople.length || e.addRoles.length ? `, also deciding: ${[...e.addPeople, ...e.addRoles].join(', ')}` : ''}`
      : 'escalation: none',
  ];
}
