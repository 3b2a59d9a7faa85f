// Owns how a worker is built: the main one (workflows + all activities on the main task queue) or a host one
// (host activities only, on cortex-rollback-host-<host>). Settings favour fast takeover after a crash: a short
// sticky schedule-to-start timeout, and heartbeating activities (see workflows/phases/profiles.ts).
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { QdrantClient } from '@qdrant/js-client-rest';
import Dockerode from 'dockerode';
import { join } from 'node:path';
import { createActivities, DEFAULT_APPROVAL_POLICY, type ActivityDeps } from '../activities/index.ts';
import { DEFAULT_PAGERDUTY_URL } from '../activities/notify.ts';
import { dataConverter, encodesFailures } from '../common/codec.ts';
import {
  hostTaskQueue,
  loadNotifySettings,
  loadQdrantSettings,
  loadTemporalSettings,
  type TemporalSettings,
} from '../common/config.ts';
import { connectionOptions } from '../common/connection.ts';
import { PROJECT_ROOT } from '../common/tools.ts';
import { workflowBundle } from './bundle.ts';

export interface WorkerSetup {
  /** Serve only the host activities of this host. */
  host?: string;
  settings?: TemporalSettings;
  connection?: NativeConnection;
  deps?: Partial<ActivityDeps>;
  identity?: string;
  /** Default: the codec of CORTEX_CODEC_KEYS (common/codec.ts), or plain payloads when no key is set. */
  dataConverter?: DataConverter;
}

/** Takeover and throughput settings of every worker (bench/load.bench.ts measures the same ones). */
export const workerTuning = {
  stickyQueueScheduleToStartTimeout: '1s',
} satisfies Partial<WorkerOptions>;

export async function createWorker(
  setup: WorkerSetup = {},
): Promise<{ worker: Worker; connection: NativeConnection; taskQueue: string; owned: boolean }> {
  const settings = setup.settings ?? loadTemporalSettings();
  const owned = !setup.connection;
  const connection = setup.connection ?? (await NativeConnection.connect(connectionOptions(settings)));
  const activities = createActivities({
    docker: setup.deps?.docker ?? new Dockerode(),
    qdrant: setup.deps?.qdrant ?? qdrantFromEnv(),
    ...(setup.deps?.run ? { run: setup.deps.run } : {}),
    ...(setup.deps?.kubectl ? { kubectl: setup.deps.kubectl } : {}),
    terraform: setup.deps?.terraform ?? terraformFromEnv(),
    notify: setup.deps?.notify ?? notifyFromEnv(),
    approvalPolicyPath: setup.deps?.approvalPolicyPath ?? approvalPolicyFromEnv(),
    networkBackupRoot: setup.deps?.networkBackupRoot ?? networkBackupRootFromEnv(),
  });
  const converter = setup.dataConverter ?? dataConverter();
  const common = {
    connection,
    namespace: settings.namespace,
    activities,
    dataConverter: converter,
    ...workerTuning,
    shutdownGraceTime: '10s',
    ...(setup.identity ? { identity: setup.identity } : {}),
  };
  const taskQueue = setup.host ? hostTaskQueue(setup.host) : settings.taskQueue;
  const worker = setup.host
    ? await Worker.create({ ...common, taskQueue })
    : await Worker.create({
        ...common,
        taskQueue,
        workflowBundle: await workflowBundle({ encodeFailures: encodesFailures(converter) }),
      });
  return { worker, connection, taskQueue, owned };
}

export function qdrantFromEnv(): ActivityDeps['qdrant'] {
  const q = loadQdrantSettings(join(PROJECT_ROOT, '.data', 'backups', 'qdrant'));
  return {
    client: new QdrantClient({ url: q.url, ...(q.apiKey ? { apiKey: q.apiKey } : {}), checkCompatibility: false }),
    url: q.url,
    ...(q.apiKey ? { apiKey: q.apiKey } : {}),
    backupRoot: q.backupRoot,
    ...(q.embeddings ? { embeddings: q.embeddings } : {}),
  };
}

/** Terraform/OpenTofu work files (checkouts, plans, state backups): $CORTEX_TERRAFORM_DIR or .data/terraform. */
export function terraformFromEnv(): ActivityDeps['terraform'] {
  return { workRoot: process.env.CORTEX_TERRAFORM_DIR?.trim() || join(PROJECT_ROOT, '.data', 'terraform') };
}

/** Where iptables and Compose network rollbacks keep their backups: $CORTEX_NETWORK_BACKUP_DIR or .data/backups/network. */
export function networkBackupRootFromEnv(): string {
  return process.env.CORTEX_NETWORK_BACKUP_DIR?.trim() || join(PROJECT_ROOT, '.data', 'backups', 'network');
}

/** Slack / PagerDuty channels from CORTEX_SLACK_WEBHOOK_URL, CORTEX_PAGERDUTY_URL, CORTEX_PAGERDUTY_ROUTING_KEY; CORTEX_WEB_UI_URL for links. */
export function notifyFromEnv(): ActivityDeps['notify'] {
  return loadNotifySettings(join(PROJECT_ROOT, '.data'), DEFAULT_PAGERDUTY_URL);
}

/** The approval policy file: $CORTEX_APPROVAL_POLICY or the committed config/approval-policy.json. */
export function approvalPolicyFromEnv(): string {
  return process.env.CORTEX_APPROVAL_POLICY?.trim() || DEFAULT_APPROVAL_POLICY;
}
