// Owns the runbook's "Infrastructure Rollback → Scenario 2: Docker network" as a durable workflow on Docker Compose v2.
// Invariants:
//  - nothing changes before the input is valid, the known-good compose file validates (`docker compose config -q`)
//    and a director of engineering approved; the file's sha256 is fixed at the check, so the file approved is the
//    file installed;
//  - the current compose file (its bytes) and its `docker compose config` are saved right before `down`; restoring
//    them and bringing the project up is the undo pushed before the first change;
//  - verification asks the engine, not Compose: each expected network exists with its subnets, each service name
//    resolves from inside every running container, every health URL answers. A name that does not resolve (Docker
//    20.10 can drop a container's service alias when Compose recreates a network) is repaired by one more down/up,
//    then verified again; anything still failing restores the saved file and says so.
import { CancellationScope, workflowInfo } from '@temporalio/workflow';
import type {
  ComposeBackup,
  ComposeCheck,
  ComposeContainer,
  ComposeFileInfo,
  ComposeState,
} from '../../activities/index.ts';
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

const PROJECT = /^[a-z0-9][a-z0-9_-]{0,62}$/; // Compose's own rule for project names
const SERVICE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const SUBNET = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function projectName(v: unknown, field: string): string {
  if (typeof v !== 'string' || !PROJECT.test(v))
    throw new InputError(field, `${show(v)} is not a compose project name (lowercase letters, digits, _ and -)`);
  return v;
}
function serviceName(v: unknown, field: string): string {
  if (typeof v !== 'string' || !SERVICE.test(v)) throw new InputError(field, `${show(v)} is not a service name`);
  return v;
}
function subnet(v: unknown, field: string): string {
  const m = typeof v === 'string' ? SUBNET.exec(v) : null;
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32)
    throw new InputError(field, `${show(v)} is not an IPv4 subnet (a.b.c.d/n)`);
  return v as string;
}

export const DOCKER_NETWORK_DEFAULTS = { verifyTimeoutSeconds: 60 };

export const dockerNetworkRollbackInput = scenarioInput({
  project: checked(projectName).describe('the compose project name (`docker compose -p`)'),
  composeFile: checked(validateAbsolutePath)
    .describe('the compose file the project runs from now (replaced by the known-good one), an absolute path')
    .meta({ example: '/srv/cortex/docker-compose.yml' }),
  knownGoodFile: checked(validateAbsolutePath)
    .describe('the known-good compose file, an absolute path')
    .meta({ example: '/srv/cortex/known-good/docker-compose.yml' }),
  networks: z
    .array(
      scenarioInput({
        name: z.string().min(1).max(200).describe("the engine's network name"),
        subnet: checked(subnet).describe('a subnet it must have'),
      }),
    )
    .max(50)
    .optional()
    .describe('networks and subnets that must exist afterwards (default: those the known-good file declares)')
    .meta({ cli: false }),
  resolveServices: z
    .array(checked(serviceName))
    .max(50)
    .optional()
    .describe(
      'service names that must resolve inside every container (default: every service of the file; repeat the flag for several)',
    )
    .meta({ flag: 'resolve' }),
  healthUrls: z
    .array(checked(validateHttpUrl))
    .min(1, { error: 'needs at least one health URL' })
    .max(20, { error: 'takes at most 20 health URLs' })
    .describe('health URLs that must answer after the change (repeat the flag for several)')
    .meta({ flag: 'health-url', example: 'http://127.0.0.1:3000/health' }),
  verifyTimeoutSeconds: int(1, 3600)
    .default(DOCKER_NETWORK_DEFAULTS.verifyTimeoutSeconds)
    .describe('how long the checks may take to pass after `up`'),
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

export type DockerNetworkRollbackInput = z.input<typeof dockerNetworkRollbackInput>;
type ValidInput = z.output<typeof dockerNetworkRollbackInput>;

export function dockerNetworkRollbackWorkflowId(i: { project: string; host?: string | undefined }): string {
  return `rollback-network-compose-${i.host ? `${i.host}-` : ''}${i.project}`;
}

export const dockerNetworkScenario = defineScenario({
  name: 'docker-network',
  workflowType: 'dockerNetworkRollback',
  category: 'infrastructure',
  runbook: 'Infrastructure Rollback → Scenario 2: Docker network',
  summary: 'bring a compose project back to its known-good file; verify networks, subnets, names, health',
  input: dockerNetworkRollbackInput,
  summarize: (i) => `roll back compose project ${i.project} → ${i.knownGoodFile}`,
  workflowId: dockerNetworkRollbackWorkflowId,
  runAttributes: (i) => ({ service: `compose:${i.project}`, targetVersion: i.knownGoodFile, ...who(i) }),
});

export interface DockerNetworkRollbackResult {
  /** 'reverted' appears only in a failure's details. */
  outcome: 'succeeded' | 'reverted' | 'rejected' | 'approval-timed-out';
  workflowId: string;
  runId: string;
  project: string;
  host?: string;
  reason: string;
  requestedBy: string;
  knownGood: ComposeFileInfo;
  before: ComposeState;
  backup?: ComposeBackup;
  containers?: ComposeContainer[];
  verification?: ComposeCheck;
  /** Set when the names did not resolve at first and one more down/up repaired it. */
  recovered?: { firstProblems: string[] };
  restored?: { restoredFrom: string; containers: ComposeContainer[] };
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
  startedAt: string;
  endedAt: string;
}

export function dockerNetworkRollback(raw: DockerNetworkRollbackInput): Promise<DockerNetworkRollbackResult> {
  return withLifecycleNotifications((notifications) => runDockerNetworkRollback(raw, notifications));
}

async function runDockerNetworkRollback(
  raw: DockerNetworkRollbackInput,
  notifications: RollbackNotifications,
): Promise<DockerNetworkRollbackResult> {
  const info = workflowInfo();
  const progress = new Progress('infrastructure', `compose:${typeof raw?.project === 'string' ? raw.project : '?'}`);
  const approvals = progress.status.approvals;
  const gate = new ApprovalGate('infrastructure', approvals);

  const input: ValidInput = await openRollback(progress, dockerNetworkScenario, raw, notifications);

  const { q, op, wait } = hostActivities(input.host, input.verifyTimeoutSeconds, input.hostWaitSeconds);
  const { project, composeFile } = input;
  const startedAt = new Date().toISOString();
  const base = {
    workflowId: info.workflowId,
    runId: info.runId,
    project,
    ...(input.host ? { host: input.host } : {}),
    reason: input.reason,
    requestedBy: input.requestedBy,
    approvals,
    timeline: progress.status.steps,
    startedAt,
  };
  const finish = (
    r: Omit<DockerNetworkRollbackResult, keyof typeof base | 'endedAt'>,
  ): DockerNetworkRollbackResult => ({ ...base, ...r, endedAt: new Date().toISOString() });

  // 1. Read-only: the known-good file validates; what runs now.
  progress.setPhase('assessing');
  let knownGood: ComposeFileInfo;
  let before: ComposeState;
  try {
    knownGood = await progress.step(
      'validate-known-good-file',
      () => q.composeCheckFile({ project, file: input.knownGoodFile }),
      (f) =>
        `valid: services ${f.services.join(', ')}; networks ${f.networks.map((n) => `${n.name} ${n.subnets.join(',')}`).join('; ')}`,
    );
    before = await progress.step(
      'assess-current-project',
      () => q.composeState({ project, file: composeFile }),
      (s) => `${s.containers.length} container(s)${s.configError ? `; current file: ${s.configError}` : ''}`,
    );
  } catch (err) {
    throw failedBeforeAnyChange(progress, err);
  }
  const networks =
    input.networks && input.networks.length > 0
      ? groupSubnets(input.networks)
      : knownGood.networks.filter((n) => n.subnets.length > 0);
  const resolve = input.resolveServices ?? knownGood.services;

  // 2. Approval (director of engineering).
  const refused = await approvalRefused(progress, gate, input);
  if (refused) return finish({ outcome: refused, knownGood, before });

  // 3–6. Backup, down, install, up, verify (with one down/up repair); the undo is pushed before `down`.
  const undos: Undo[] = [];
  let backup: ComposeBackup | undefined;
  let containers: ComposeContainer[] | undefined;
  let verification: ComposeCheck | undefined;
  let recovered: { firstProblems: string[] } | undefined;
  let restored: { restoredFrom: string; containers: ComposeContainer[] } | undefined;
  const verify = (name: string) =>
    progress.step(
      name,
      () =>
        wait.composeVerify({
          project,
          networks,
          resolve,
          healthUrls: input.healthUrls,
          timeoutSeconds: input.verifyTimeoutSeconds,
        }),
      (v) => (v.ok ? `all checks pass (${v.attempts} round(s))` : v.problems.join('; ')),
    );
  try {
    progress.setPhase('rolling-back');
    const b = await progress.step(
      'backup-current-config',
      () => op.composeBackup({ project, file: composeFile, name: `${info.workflowId}-${runSuffix(info.runId)}` }),
      (r) => `${composeFile} → ${r.filePath}${r.configPath ? `; docker compose config → ${r.configPath}` : ''}`,
    );
    backup = b;
    undos.push({
      name: `restore ${composeFile} from ${b.filePath} and bring project ${project} up`,
      run: async () => {
        restored = await op.composeRestore({ project, file: composeFile, backupPath: b.filePath, sha256: b.sha256 });
        return restored;
      },
      manual:
        `cp ${b.filePath} ${composeFile} && docker compose -p ${project} -f ${composeFile} down && ` +
        `docker compose -p ${project} -f ${composeFile} up -d${input.host ? ` (on host ${input.host})` : ''}`,
    });
    await progress.step('compose-down', () => op.composeDown({ project, file: composeFile }));
    await progress.step(
      'install-known-good-file',
      () => op.composeInstallFile({ from: input.knownGoodFile, to: composeFile, sha256: knownGood.sha256 }),
      () => `${input.knownGoodFile} → ${composeFile} (atomic rename)`,
    );
    containers = await progress.step(
      'compose-up',
      () => op.composeUp({ project, file: composeFile }),
      (cs) => cs.map((c) => `${c.name} ${c.state}`).join(', '),
    );

    progress.setPhase('verifying');
    verification = await verify('verify-network');
    if (!verification.ok && verification.resolution.some((r) => !r.ok)) {
      // Docker 20.10 may leave a container without its service alias after Compose recreated the network.
      recovered = { firstProblems: verification.problems };
      progress.setPhase('recovering');
      await progress.step('recover: compose down', () => op.composeDown({ project, file: composeFile }));
      containers = await progress.step('recover: compose up', () => op.composeUp({ project, file: composeFile }));
      progress.setPhase('verifying');
      verification = await verify('verify-network-after-recovery');
    }
    if (!verification.ok) {
      throw fail(
        FailureType.VerificationFailed,
        `project ${project} on ${input.knownGoodFile} did not pass verification within ${input.verifyTimeoutSeconds}s: ` +
          verification.problems.join('; '),
      );
    }
    progress.restored(recovered ? 'verify-network-after-recovery' : 'verify-network');
  } catch (err) {
    await CancellationScope.nonCancellable(() =>
      compensate(
        progress,
        undos,
        err,
        () =>
          `${composeFile} from ${backup!.filePath}, project ${project} up again ` +
          `(${restored?.containers.map((c) => `${c.name} ${c.state}`).join(', ') ?? '?'})`,
        () => ({
          result: finish({
            outcome: 'reverted',
            knownGood,
            before,
            ...(backup ? { backup } : {}),
            ...(verification ? { verification } : {}),
            ...(recovered ? { recovered } : {}),
            ...(restored ? { restored } : {}),
          }),
        }),
      ),
    );
    throw err; // unreachable: compensate always throws
  }

  progress.setPhase('completed');
  return finish({
    outcome: 'succeeded',
    knownGood,
    before,
    backup,
    containers,
    verification,
    ...(recovered ? { recovered } : {}),
  });
}

function groupSubnets(list: Array<{ name: string; subnet: string }>): Array<{ name: string; subnets: string[] }> {
  const by = new Map<string, string[]>();
  for (const n of list) by.set(n.name, [...(by.get(n.name) ?? []), n.subnet]);
  return [...by].map(([name, subnets]) => ({ name, subnets }));
}
