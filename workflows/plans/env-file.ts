// Owns the dry-run plan of the env-file rollback (configuration/env-file.ts): the real run's read-only steps (read
// both files — key names and digests only, never a value —, the container or unit, the health), the earlier
// backups of the env file for their age and size, then the steps, the backup and the outage the real run would
// cause. A known-good file that would be refused is a warning naming its problems (the real run stops there).
import { proxyActivities } from '@temporalio/workflow';
import type { Activities, ContainerEnv, EnvFileInfo, HealthSample, UnitState } from '../../activities/index.ts';
import { hostTaskQueue } from '../../common/config.ts';
import type { ValidEnvFileRollbackInput } from '../configuration/env-file.ts';
import { surfaced } from '../phases/failures.ts';
import { durationText, existingBackups, type PlanBody, type PlanStep } from '../phases/plan.ts';
import { probe, quick } from '../phases/profiles.ts';

/** A container recreate or a unit restart, beyond the stop grace and the health window. */
const RESTART_SECONDS = 5;

export async function planEnvFileRollback(input: ValidEnvFileRollbackInput): Promise<PlanBody> {
  const on = input.host ? { taskQueue: hostTaskQueue(input.host) } : {};
  const q = proxyActivities<Activities>({ ...quick, ...on });
  const sample = proxyActivities<Activities>({ ...probe, ...on });
  const t = input.target;
  const docker = t.kind === 'docker';
  const name = (docker ? t.containerName : t.unit)!;
  let current: EnvFileInfo, good: EnvFileInfo, running: ContainerEnv | UnitState, before: HealthSample;
  let backups: Array<{ path: string; sizeBytes: number; mtime: string }>;
  try {
    [current, good, running, before, backups] = await Promise.all([
      q.inspectEnvFile({ path: input.envFile }),
      q.inspectEnvFile({ path: input.knownGoodFile, requiredKeys: input.requiredKeys }),
      docker ? q.inspectContainerEnv({ name }) : q.systemdUnitState({ unit: name }),
      sample.probeHealth({ url: t.healthUrl }),
      q.listEnvFileBackups({ path: input.envFile }),
    ]);
  } catch (err) {
    throw surfaced(err, ' (dry run: nothing was changed)');
  }
  const reads = [
    'inspectEnvFile',
    'inspectEnvFile',
    docker ? 'inspectContainerEnv' : 'systemdUnitState',
    'probeHealth',
    'listEnvFileBackups',
  ];
  const warnings: string[] = [];
  if (good.problems.length > 0)
    warnings.push(
      `the known-good file ${input.knownGoodFile} would be refused (the real run stops before changing anything): ` +
        good.problems.map((p) => (p.line ? `line ${p.line}: ${p.problem}` : p.problem)).join('; '),
    );
  const a = new Map(current.keys.map((k) => [k.key, k.sha256]));
  const b = new Map(good.keys.map((k) => [k.key, k.sha256]));
  const added = [...b.keys()].filter((k) => !a.has(k));
  const removed = [...a.keys()].filter((k) => !b.has(k));
  const changed = [...b.keys()].filter((k) => a.has(k) && a.get(k) !== b.get(k));
  const same = current.sha256 === good.sha256;
  if (same)
    warnings.push(
      `${input.envFile} already is the known-good file: the real run ends as already-applied if ${name} runs with it, ` +
        'else it restarts the service on it',
    );
  const where = input.host ? ` on host ${input.host}` : '';
  const now = Date.now();
  const state =
    'env' in running
      ? `container ${name}: ${running.image} (${running.id.slice(0, 12)}), ${running.state}`
      : `unit ${running.unit}: ${running.activeState}/${running.subState}, pid ${running.mainPid}`;
  const current_ = [
    `${input.envFile}${where}: ${current.keys.length} keys, sha256 ${current.sha256.slice(0, 12)}, mode ${current.mode}`,
    `${input.knownGoodFile}: ${good.keys.length} keys, sha256 ${good.sha256.slice(0, 12)}, ${good.problems.length} problem(s)`,
    `key changes (names only): added ${added.join(', ') || '-'}; removed ${removed.join(', ') || '-'}; changed ${changed.join(', ') || '-'}`,
    `${state}; ${before.ok ? 'healthy' : `unhealthy (${before.httpStatus ?? before.error ?? '?'})`} at ${t.healthUrl}`,
  ];
  const preserved = `${name}-pre-rollback-<run id>`;
  const steps: PlanStep[] = [
    { name: 'assess-current-env-file', what: `read ${input.envFile} (key names and digests)`, changes: false },
    {
      name: 'validate-known-good-env-file',
      what: `read ${input.knownGoodFile}; KEY=VALUE lines, no duplicates, ${input.requiredKeys.join(', ')} set`,
      changes: false,
    },
    {
      name: docker ? 'assess-current-container' : 'assess-current-unit',
      what: docker ? `inspect ${name}` : `systemctl show ${name}`,
      changes: false,
    },
    { name: 'assess-current-health', what: `GET ${t.healthUrl}`, changes: false },
    { name: 'approval', what: 'wait for the approval below (approval-needed notification)', changes: false },
    {
      name: 'backup-current-env-file',
      what: `copy ${input.envFile} to ${input.envFile}.backup-<time>-<run> (mode, owner, times kept)`,
      changes: true,
    },
    {
      name: 'replace-env-file',
      what: `replace ${input.envFile} with ${input.knownGoodFile} atomically`,
      changes: true,
      undo: `put the backup back${docker ? '' : ` and restart ${name}`}`,
    },
  ];
  if (docker)
    steps.push(
      {
        name: 'preserve-current-container',
        what: `rename ${name} to ${preserved}`,
        changes: true,
        undo: `restart the previous ${name}`,
      },
      {
        name: 'stop-current-container',
        what: `stop ${preserved} (grace ${input.stopTimeoutSeconds}s)`,
        changes: true,
      },
      {
        name: 'recreate-container-with-env-file',
        what: `create and start ${name} from the same image and configuration with the file's env`,
        changes: true,
        undo: `remove the recreated ${name}`,
      },
    );
  else steps.push({ name: 'restart-unit', what: `systemctl restart ${name}`, changes: true });
  steps.push(
    { name: 'verify-health', what: `${t.healthUrl} healthy within ${input.verifyTimeoutSeconds}s`, changes: false },
    { name: 'verify-env-applied', what: 'the running process has every key of the file (digests)', changes: false },
    { name: 'connection-test', what: 'GET $QDRANT_URL/collections with the new env', changes: false },
  );
  if (input.monitor.durationSeconds > 0)
    steps.push({
      name: 'monitor',
      what: `watch ${t.healthUrl} every ${input.monitor.intervalSeconds}s for ${input.monitor.durationSeconds}s`,
      changes: false,
    });
  if (docker) steps.push({ name: 'remove-preserved-container', what: `remove ${preserved}`, changes: true });
  return {
    current: current_,
    steps,
    backups: [
      {
        what: `env file backup of ${input.envFile} (sha256 ${current.sha256.slice(0, 12)})`,
        where: `${input.envFile}.backup-<time>-<run>${where}, kept after the rollback`,
        estimatedBytes: current.size,
        estimate: '(a copy of the current file)',
        ...existingBackups(backups, now),
      },
      ...(docker
        ? [
            {
              what: `container config snapshot: ${name} kept stopped with its whole configuration`,
              where: `${preserved}${where}`,
              estimatedBytes: 0,
              estimate: 'nothing copied (a rename)',
            },
          ]
        : []),
    ],
    expectedDowntime: {
      maxSeconds: (docker ? input.stopTimeoutSeconds : 0) + RESTART_SECONDS + input.verifyTimeoutSeconds,
      what:
        `${name} is ${docker ? 'stopped and recreated' : 'restarted'} and must answer healthy within ` +
        `${durationText(input.verifyTimeoutSeconds)}${docker ? ` (stop grace ${input.stopTimeoutSeconds}s)` : ''}`,
    },
    warnings,
    reads,
  };
}
