// The `cortex-rollback` CLI: start / approve / reject / status / result. Exit codes: 0 a successful rollback
// (or a start without --wait, or a sent decision); 1 the rollback failed; 2 bad usage or input (nothing
// started); 3 not approved (rejected or timed out); 4 a rollback of that target is already running.
import { parseArgs } from 'node:util';
import { ConfigError } from '../common/config.ts';
import { renderReport } from './report.ts';
import { InputError, show, validateCollectionName } from '../workflows/phases/validation.ts';
import type { DockerRollbackInput } from '../workflows/application/docker-container.ts';
import type { RollbackStatus } from '../workflows/phases/progress.ts';
import {
  AlreadyRunningError,
  scheduleQdrantBackups,
  startWorkflow,
  connect,
  getStatus,
  sendConfirm,
  sendDecision,
  startDockerRollback,
  validateStartInput,
  waitResult,
  type ResultOrFailure,
  type RollbackClient,
} from './client.ts';

const USAGE = `usage:
  cortex-rollback start docker --container NAME --image IMAGE:TAG --health-url URL --reason TEXT --requested-by WHO
        [--host HOST] [--stop-timeout S] [--verify-timeout S] [--watch-seconds S] [--interval S]
        [--failure-threshold N] [--approval-timeout S] [--pre-approve APPROVER:ROLE] [--pull] [--wait] [--json]
  cortex-rollback start qdrant-backup   --collection C [--backup-name N] [--host H] [--wait]
  cortex-rollback start qdrant-verify   --collection C [--backup-name N] [--host H] [--wait]
  cortex-rollback start qdrant-recovery --collection C [--backup NAME|latest | --at ISO_TIME_WITH_ZONE] [--app-container NAME
        --app-health-url URL] [--no-export] [--stop-timeout S] [--watch-seconds S] [--interval S] [--failure-threshold N]
        --reason TEXT --requested-by WHO [--approval-timeout S] [--pre-approve APPROVER:ROLE] [--wait]
  cortex-rollback start qdrant-schema   --collection ALIAS --size N [--distance Cosine|Dot|Euclid|Manhattan]
        [--vector-name NAME] [--mode alias|recreate] [--reembed-field FIELD] [--batch-size N] --reason TEXT
        --requested-by WHO [--approval-timeout S] [--pre-approve APPROVER:ROLE] [--wait]
  cortex-rollback start qdrant-config   --collection C --target-json '{"optimizers_config":{…}}' --reason TEXT
        --requested-by WHO [--approval-timeout S] [--pre-approve APPROVER:ROLE] [--wait]
  (every start also takes --host H, --workflow-id ID, --wait, --json; a flag another kind reads is refused)
  cortex-rollback schedule backup --collection C (--every 6h | --cron '0 */6 * * *') [--host H]
  cortex-rollback approve WORKFLOW_ID --approver WHO --role ROLE [--comment TEXT]
  cortex-rollback reject  WORKFLOW_ID --approver WHO --role ROLE --reason TEXT
  cortex-rollback confirm WORKFLOW_ID --by WHO [--comment TEXT]   (a network rollback's dead-man switch)
  cortex-rollback status  WORKFLOW_ID [--json]
  cortex-rollback result  WORKFLOW_ID [--json]
  cortex-rollback report  WORKFLOW_ID          (Markdown, the runbook's Rollback Report Template)
environment: TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), TEMPORAL_TASK_QUEUE (cortex-rollback)`;

class UsageError extends Error {}

const options = {
  container: { type: 'string' },
  image: { type: 'string' },
  'health-url': { type: 'string' },
  reason: { type: 'string' },
  'requested-by': { type: 'string' },
  host: { type: 'string' },
  'stop-timeout': { type: 'string' },
  'verify-timeout': { type: 'string' },
  'watch-seconds': { type: 'string' },
  interval: { type: 'string' },
  'failure-threshold': { type: 'string' },
  'approval-timeout': { type: 'string' },
  'pre-approve': { type: 'string' },
  'workflow-id': { type: 'string' },
  pull: { type: 'boolean' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  approver: { type: 'string' },
  collection: { type: 'string' },
  'backup-name': { type: 'string' },
  backup: { type: 'string' },
  at: { type: 'string' },
  'app-container': { type: 'string' },
  'app-health-url': { type: 'string' },
  'no-export': { type: 'boolean' },
  size: { type: 'string' },
  distance: { type: 'string' },
  'vector-name': { type: 'string' },
  mode: { type: 'string' },
  'reembed-field': { type: 'string' },
  'batch-size': { type: 'string' },
  'target-json': { type: 'string' },
  every: { type: 'string' },
  cron: { type: 'string' },
  role: { type: 'string' },
  comment: { type: 'string' },
  by: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new UsageError(`--${flag} must be a whole number, got ${show(v)}`);
  return Number(v);
}

function need(v: string | undefined, flag: string): string {
  if (!v) throw new UsageError(`--${flag} is required`);
  return v;
}

type Values = ReturnType<typeof parse>['values'];
function parse(argv: string[]) {
  return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
}

export function dockerInputFromFlags(v: Values): DockerRollbackInput {
  const watch = int(v['watch-seconds'], 'watch-seconds');
  const interval = int(v.interval, 'interval');
  const threshold = int(v['failure-threshold'], 'failure-threshold');
  const approvalTimeout = int(v['approval-timeout'], 'approval-timeout');
  let preApproved: { approver: string; role: string } | undefined;
  if (v['pre-approve']) {
    const m = /^(.+):([^:]+)$/.exec(v['pre-approve']); // the role is after the last colon (approvers may contain one)
    if (!m) throw new UsageError(`--pre-approve takes APPROVER:ROLE, got ${show(v['pre-approve'])}`);
    preApproved = { approver: m[1]!, role: m[2]! };
  }
  const stop = int(v['stop-timeout'], 'stop-timeout');
  const verify = int(v['verify-timeout'], 'verify-timeout');
  return {
    containerName: need(v.container, 'container'),
    targetImage: need(v.image, 'image'),
    healthUrl: need(v['health-url'], 'health-url'),
    reason: need(v.reason, 'reason'),
    requestedBy: need(v['requested-by'], 'requested-by'),
    ...(v.host ? { host: v.host } : {}),
    ...(stop !== undefined ? { stopTimeoutSeconds: stop } : {}),
    ...(verify !== undefined ? { verifyTimeoutSeconds: verify } : {}),
    ...(v.pull ? { pull: true } : {}),
    ...(watch !== undefined || interval !== undefined || threshold !== undefined
      ? {
          monitor: {
            ...(watch !== undefined ? { durationSeconds: watch } : {}),
            ...(interval !== undefined ? { intervalSeconds: interval } : {}),
            ...(threshold !== undefined ? { failureThreshold: threshold } : {}),
          },
        }
      : {}),
    ...(approvalTimeout !== undefined || preApproved
      ? {
          approval: {
            ...(approvalTimeout !== undefined ? { timeoutSeconds: approvalTimeout } : {}),
            ...(preApproved ? { preApproved } : {}),
          },
        }
      : {}),
    searchAttributes: process.env.CORTEX_SEARCH_ATTRIBUTES !== '0',
  };
}

function approvalFromFlags(v: Values): {
  approval?: { timeoutSeconds?: number; preApproved?: { approver: string; role: string } };
} {
  const timeout = int(v['approval-timeout'], 'approval-timeout');
  let preApproved: { approver: string; role: string } | undefined;
  if (v['pre-approve']) {
    const m = /^(.+):([^:]+)$/.exec(v['pre-approve']);
    if (!m) throw new UsageError(`--pre-approve takes APPROVER:ROLE, got ${show(v['pre-approve'])}`);
    preApproved = { approver: m[1]!, role: m[2]! };
  }
  if (timeout === undefined && !preApproved) return {};
  return {
    approval: {
      ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
      ...(preApproved ? { preApproved } : {}),
    },
  };
}

const ANY_KIND = ['workflow-id', 'wait', 'json', 'help', 'host'];
const APPROVAL_FLAGS = ['reason', 'requested-by', 'approval-timeout', 'pre-approve'];
const WATCH_FLAGS = ['watch-seconds', 'interval', 'failure-threshold'];
/** The flags each kind of `start` reads: any other is refused rather than silently ignored. */
const KIND_FLAGS: Record<string, string[]> = {
  docker: [
    'container',
    'image',
    'health-url',
    'stop-timeout',
    'verify-timeout',
    'pull',
    ...WATCH_FLAGS,
    ...APPROVAL_FLAGS,
  ],
  'qdrant-backup': ['collection', 'backup-name'],
  'qdrant-verify': ['collection', 'backup-name'],
  'qdrant-recovery': [
    'collection',
    'backup',
    'at',
    'app-container',
    'app-health-url',
    'no-export',
    'stop-timeout',
    ...WATCH_FLAGS,
    ...APPROVAL_FLAGS,
  ],
  'qdrant-schema': [
    'collection',
    'size',
    'distance',
    'mode',
    'vector-name',
    'reembed-field',
    'batch-size',
    ...APPROVAL_FLAGS,
  ],
  'qdrant-config': ['collection', 'target-json', ...APPROVAL_FLAGS],
};

function onlyKindFlags(kind: string | undefined, v: Values): void {
  const allowed = KIND_FLAGS[kind ?? ''];
  if (!allowed) return; // an unknown kind is reported by its own message
  for (const flag of Object.keys(v)) {
    if (!allowed.includes(flag) && !ANY_KIND.includes(flag)) {
      throw new UsageError(`--${flag} does not apply to 'start ${kind}'`);
    }
  }
}

/** Input and business-key workflow ID for the Qdrant kinds of `start`. */
export function qdrantStartFromFlags(
  kind: string | undefined,
  v: Values,
): { type: string; input: unknown; workflowId: string } {
  onlyKindFlags(kind, v);
  const collection = validateCollectionName(need(v.collection, 'collection'));
  const host = v.host ? { host: v.host } : {};
  const who = () => ({ reason: need(v.reason, 'reason'), requestedBy: need(v['requested-by'], 'requested-by') });
  switch (kind) {
    case 'qdrant-backup':
    case 'qdrant-verify':
      return {
        type: 'qdrantBackup',
        input: {
          collection,
          mode: kind === 'qdrant-verify' ? 'verify' : 'backup',
          ...(v['backup-name'] ? { backupName: v['backup-name'] } : {}),
          ...host,
        },
        workflowId: `backup-qdrant-${collection}`,
      };
    case 'qdrant-recovery': {
      const app =
        v['app-container'] || v['app-health-url']
          ? {
              app: {
                containerName: need(v['app-container'], 'app-container'),
                healthUrl: need(v['app-health-url'], 'app-health-url'),
              },
            }
          : {};
      if (v.at && v.backup) throw new UsageError('give --backup NAME or --at TIME, not both');
      const watch = int(v['watch-seconds'], 'watch-seconds');
      const interval = int(v.interval, 'interval');
      const threshold = int(v['failure-threshold'], 'failure-threshold');
      const stop = int(v['stop-timeout'], 'stop-timeout');
      const input = {
        collection,
        ...(v.at ? { atOrBefore: v.at } : v.backup ? { backup: v.backup } : {}),
        ...app,
        ...(v['no-export'] ? { emergencyExport: false } : {}),
        ...(stop !== undefined ? { stopTimeoutSeconds: stop } : {}),
        ...(watch !== undefined || interval !== undefined || threshold !== undefined
          ? {
              monitor: {
                ...(watch !== undefined ? { durationSeconds: watch } : {}),
                ...(interval !== undefined ? { intervalSeconds: interval } : {}),
                ...(threshold !== undefined ? { failureThreshold: threshold } : {}),
              },
            }
          : {}),
        ...who(),
        ...host,
        ...approvalFromFlags(v),
      };
      return {
        type: v.at ? 'pointInTimeRecovery' : 'qdrantDataRecovery',
        input,
        workflowId: `rollback-database-${collection}`,
      };
    }
    case 'qdrant-schema': {
      const size = int(need(v.size, 'size'), 'size');
      const batch = int(v['batch-size'], 'batch-size');
      const input = {
        collection,
        target: {
          size,
          ...(v.distance ? { distance: v.distance } : {}),
          ...(v['vector-name'] ? { vectorName: v['vector-name'] } : {}),
        },
        ...(v.mode ? { mode: v.mode } : {}),
        ...(v['reembed-field'] ? { reembed: { contentField: v['reembed-field'] } } : {}),
        ...(batch !== undefined ? { batchSize: batch } : {}),
        ...who(),
        ...host,
        ...approvalFromFlags(v),
      };
      return { type: 'qdrantSchemaRollback', input, workflowId: `rollback-database-${collection}` };
    }
    case 'qdrant-config': {
      let target: unknown;
      try {
        target = JSON.parse(need(v['target-json'], 'target-json'));
      } catch (err) {
        throw new UsageError(`--target-json is not JSON: ${(err as Error).message}`);
      }
      return {
        type: 'qdrantConfigRollback',
        input: { collection, target, ...who(), ...host, ...approvalFromFlags(v) },
        workflowId: `rollback-configuration-qdrant-${collection}`,
      };
    }
    default:
      throw new UsageError(
        `unknown kind '${kind ?? ''}' (docker, qdrant-backup, qdrant-verify, qdrant-recovery, qdrant-schema, qdrant-config)`,
      );
  }
}

/** Streams phase and step changes to stderr until the workflow closes. */
async function follow(rc: RollbackClient, workflowId: string): Promise<void> {
  const seen = new Set<string>();
  let phase = '';
  const handle = rc.client.workflow.getHandle(workflowId);
  let done = false;
  const closed = handle.result().then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    try {
      const s = await getStatus(rc, workflowId);
      if (s.phase !== phase) {
        phase = s.phase;
        process.stderr.write(`[${new Date().toISOString()}] phase: ${phase}\n`);
        if (s.pendingApproval) {
          process.stderr.write(
            `  waiting for approval by a ${s.pendingApproval.requiredRole} (or higher) until ${s.pendingApproval.deadline}:\n` +
              `  cortex-rollback approve ${workflowId} --approver <you> --role ${s.pendingApproval.requiredRole}\n`,
          );
        }
      }
      for (const step of s.steps) {
        const key = `${step.name}|${step.startedAt}|${step.state}`;
        if (step.state === 'running' || seen.has(key)) continue;
        seen.add(key);
        process.stderr.write(`  ${step.state.padEnd(9)} ${step.name}${step.detail ? `: ${step.detail}` : ''}\n`);
      }
    } catch {
      // the workflow may be closing; the result below tells
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  }
}

function printStatus(s: RollbackStatus, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(s, null, 2));
    return;
  }
  console.log(`${s.workflowId} (${s.workflowType}, ${s.rollbackType} rollback of ${s.target})`);
  console.log(`phase: ${s.phase}${s.error ? `\nerror: ${s.error}` : ''}`);
  if (s.pendingApproval)
    console.log(`waiting for: ${s.pendingApproval.requiredRole} until ${s.pendingApproval.deadline}`);
  for (const st of s.steps) {
    console.log(`  ${st.startedAt}  ${st.state.padEnd(9)} ${st.name}${st.detail ? `: ${st.detail}` : ''}`);
  }
  for (const a of s.approvals) {
    console.log(
      `  approval: ${a.decision} by ${a.approver} (${a.role}) via ${a.via}${a.refusal ? ` — ${a.refusal}` : ''}`,
    );
  }
  if (s.monitoring) {
    const m = s.monitoring;
    console.log(
      `  watch: ${m.samples} samples, ${m.failures} failed, ${m.consecutiveFailures} in a row, ends ${m.endsAt}`,
    );
  }
}

function report(r: ResultOrFailure, json: boolean): number {
  if (json) console.log(JSON.stringify(r, null, 2));
  if (!r.ok) {
    if (!json) console.error(`rollback FAILED (${r.type}): ${r.message}`);
    return 1;
  }
  if (!('container' in r.result)) {
    // a Qdrant workflow: outcome (or a backup manifest) and the rest as JSON
    const other = r.result as unknown as { outcome?: string };
    if (!json) console.log(JSON.stringify(other, null, 2));
    return other.outcome === undefined || other.outcome === 'succeeded' ? 0 : 3;
  }
  const res = r.result;
  if (!json) {
    console.log(`${res.outcome}: ${res.container} ${res.from.image} -> ${res.to.image} (${res.workflowId})`);
    if (res.verification) console.log(`  verified healthy after ${res.verification.attempts} probe(s)`);
    if (res.monitoring) {
      console.log(
        `  watched ${res.monitoring.durationSeconds}s: ${res.monitoring.samples} samples, ${res.monitoring.failures} failed`,
      );
    }
  }
  if (res.outcome === 'succeeded' || res.outcome === 'already-on-target') return 0;
  return 3;
}

export async function run(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals: p } = parsed;
  if (v.help || p.length === 0) {
    console.log(USAGE);
    return v.help ? 0 : 2;
  }
  const json = v.json === true;
  let rc: RollbackClient | undefined;
  try {
    const [cmd, arg] = p;
    switch (cmd) {
      case 'schedule': {
        if (arg !== 'backup') throw new UsageError(`unknown schedule '${arg ?? ''}' (supported: backup)`);
        rc = await connect();
        const r = await scheduleQdrantBackups(rc, {
          collection: need(v.collection, 'collection'),
          ...(v.every ? { every: v.every } : {}),
          ...(v.cron ? { cron: v.cron } : {}),
          ...(v.host ? { host: v.host } : {}),
        });
        console.log(
          json
            ? JSON.stringify(r)
            : r.created
              ? `schedule ${r.scheduleId} created`
              : `schedule ${r.scheduleId} already exists and was left unchanged (temporal schedule update/delete --schedule-id ${r.scheduleId})`,
        );
        return 0;
      }
      case 'start': {
        let started: { workflowId: string; runId: string };
        if (arg === 'docker') {
          onlyKindFlags('docker', v);
          const input = dockerInputFromFlags(v);
          validateStartInput('dockerContainerRollback', input);
          rc = await connect();
          started = await startDockerRollback(rc, input, v['workflow-id'] ? { workflowId: v['workflow-id'] } : {});
        } else {
          const { type, input, workflowId } = qdrantStartFromFlags(arg, v);
          validateStartInput(type, input);
          rc = await connect();
          started = await startWorkflow(rc, type, input, v['workflow-id'] ?? workflowId);
        }
        if (!v.wait) {
          console.log(json ? JSON.stringify(started) : `started ${started.workflowId} (run ${started.runId})`);
          return 0;
        }
        process.stderr.write(`started ${started.workflowId} (run ${started.runId})\n`);
        await follow(rc, started.workflowId);
        return report(await waitResult(rc, started.workflowId), json);
      }
      case 'approve':
      case 'reject': {
        const id = need(arg, 'WORKFLOW_ID');
        const approver = need(v.approver, 'approver');
        const role = need(v.role, 'role');
        rc = await connect();
        if (cmd === 'approve') {
          await sendDecision(rc, id, { approve: { approver, role, ...(v.comment ? { comment: v.comment } : {}) } });
        } else {
          await sendDecision(rc, id, { reject: { approver, role, reason: need(v.reason, 'reason') } });
        }
        console.log(json ? JSON.stringify({ sent: cmd, workflowId: id }) : `${cmd} sent to ${id}`);
        return 0;
      }
      case 'confirm': {
        const id = need(arg, 'WORKFLOW_ID');
        const by = need(v.by, 'by');
        rc = await connect();
        await sendConfirm(rc, id, { by, ...(v.comment ? { comment: v.comment } : {}) });
        console.log(json ? JSON.stringify({ sent: 'confirm', workflowId: id }) : `confirm sent to ${id}`);
        return 0;
      }
      case 'status': {
        rc = await connect();
        printStatus(await getStatus(rc, need(arg, 'WORKFLOW_ID')), json);
        return 0;
      }
      case 'report': {
        const id = need(arg, 'WORKFLOW_ID');
        rc = await connect();
        const status = await getStatus(rc, id);
        console.log(renderReport(status, await waitResult<unknown>(rc, id)));
        return 0;
      }
      case 'result': {
        rc = await connect();
        return report(await waitResult(rc, need(arg, 'WORKFLOW_ID')), json);
      }
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof InputError || err instanceof ConfigError) {
      console.error(`${err.message}${err instanceof UsageError ? `\n${USAGE}` : ''}`);
      return 2;
    }
    if (err instanceof AlreadyRunningError) {
      console.error(err.message);
      return 4;
    }
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await rc?.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
