// Owns how a worker is built: the main one (workflows + all activities on the main task queue) or a host one
// (host activities only, on cortex-rollback-host-<host>). Settings favour fast takeover after a crash: a short
// sticky schedule-to-start timeout, and heartbeating activities (see workflows/phases/profiles.ts).
// The main worker answers its workflows' visibility plan (activities/visibility.ts) on its own connection, and with
// CORTEX_REGISTER_SEARCH_ATTRIBUTES=1 registers the project's search attributes the namespace lacks before polling.
import type { DataConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { QdrantClient } from '@qdrant/js-client-rest';
import Dockerode from 'dockerode';
import { join } from 'node:path';
import { createActivities, DEFAULT_APPROVAL_POLICY, type ActivityDeps } from '../activities/index.ts';
import { DEFAULT_PAGERDUTY_URL } from '../activities/notify.ts';
import type { VisibilityDeps } from '../activities/visibility.ts';
import { dataConverter, EncryptionCodec, encodesFailures } from '../common/codec.ts';
import { SEARCH_ATTRIBUTES } from '../common/dev-server.ts';
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
  const converter = setup.dataConverter ?? dataConverter();
  if (!setup.host && registerSearchAttributesFromEnv()) {
    // when permitted: a worker without the right still starts, its runs skip what is missing (and say so)
    await registerSearchAttributes(connection, settings.namespace).then(
      (added) => {
        if (added.length)
          console.log(`[worker] registered search attributes ${added.join(', ')} on ${settings.namespace}`);
      },
      (err: unknown) =>
        console.warn(
          `[worker] CORTEX_REGISTER_SEARCH_ATTRIBUTES=1 but registering on ${settings.namespace} failed: ` +
            (err instanceof Error ? err.message : String(err)),
        ),
    );
  }
  const activities = createActivities({
    docker: setup.deps?.docker ?? new Dockerode(),
    qdrant: setup.deps?.qdrant ?? qdrantFromEnv(),
    ...(setup.deps?.run ? { run: setup.deps.run } : {}),
    ...(setup.deps?.kubectl ? { kubectl: setup.deps.kubectl } : {}),
    terraform: setup.deps?.terraform ?? terraformFromEnv(),
    notify: setup.deps?.notify ?? notifyFromEnv(),
    approvalPolicyPath: setup.deps?.approvalPolicyPath ?? approvalPolicyFromEnv(),
    networkBackupRoot: setup.deps?.networkBackupRoot ?? networkBackupRootFromEnv(),
    visibility: setup.deps?.visibility ?? visibilityDeps(connection, settings.namespace, converter),
  });
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

/** What the visibility plan needs: the namespace's search attributes on this connection, the codec's digest. */
export function visibilityDeps(
  connection: NativeConnection,
  namespace: string,
  converter: DataConverter,
): VisibilityDeps {
  const codecs = converter.payloadCodecs ?? [];
  const codec = codecs.find((c): c is EncryptionCodec => c instanceof EncryptionCodec);
  return {
    namespace,
    listSearchAttributes: async () =>
      (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {},
    encrypted: codecs.length > 0,
    ...(codec ? { digest: (text: string) => codec.digest(text) } : {}),
  };
}

/** CORTEX_REGISTER_SEARCH_ATTRIBUTES=1: the main worker registers the missing search attributes at start. */
export function registerSearchAttributesFromEnv(): boolean {
  return process.env.CORTEX_REGISTER_SEARCH_ATTRIBUTES?.trim() === '1';
}

/**
 * Registers those of the project's search attributes (common/dev-server.ts) the namespace lacks; returns their
 * names. One already registered under another type is left as it is (the visibility plan skips it).
 */
export async function registerSearchAttributes(connection: NativeConnection, namespace: string): Promise<string[]> {
  const T = proto.temporal.api.enums.v1.IndexedValueType;
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([k]) => customAttributes?.[k] === undefined);
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      missing.map(([k, t]) => [k, t === 'Text' ? T.INDEXED_VALUE_TYPE_TEXT : T.INDEXED_VALUE_TYPE_KEYWORD]),
    ),
  });
  return missing.map(([k]) => k);
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
