// Owns the process configuration shared by worker, client, CLI and tests: read and validated once, from the
// environment, failing fast with a message that names the variable. Pure (no I/O) so workflows may import the
// task-queue naming too.

export const DEFAULT_TASK_QUEUE = 'cortex-rollback';
export const HOST_TASK_QUEUE_PREFIX = 'cortex-rollback-host-';
const HOST_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  /** TLS to the frontend (an existing cluster, Temporal Cloud); files are read at connect (common/connection.ts). */
  tls?: TemporalTlsSettings;
  /** Temporal Cloud API key (sent as a bearer token; implies TLS). A secret: from the environment only. */
  apiKey?: string;
}

export interface TemporalTlsSettings {
  /** mTLS client certificate and key (PEM files), both or neither. */
  clientCertPath?: string;
  clientKeyPath?: string;
  /** The CA that signed the server's certificate, when it is not a public one. */
  serverCaCertPath?: string;
  serverName?: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The task queue that serves activities touching one host (Docker socket, files, iptables). */
export function hostTaskQueue(host: string): string {
  if (!HOST_NAME.test(host)) {
    throw new ConfigError(
      `invalid host name '${host}': letters, digits, '_', '.', '-' (max 63, starting alphanumeric)`,
    );
  }
  return `${HOST_TASK_QUEUE_PREFIX}${host}`;
}

export function isValidHostName(host: string): boolean {
  return HOST_NAME.test(host);
}

export function loadTemporalSettings(env: Record<string, string | undefined> = process.env): TemporalSettings {
  const address = env.TEMPORAL_ADDRESS?.trim() || '127.0.0.1:7233';
  if (!/^[^\s:/]+:\d{1,5}$/.test(address)) {
    throw new ConfigError(`TEMPORAL_ADDRESS must be host:port, got '${address}'`);
  }
  const namespace = env.TEMPORAL_NAMESPACE?.trim() || 'default';
  if (!/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$/.test(namespace)) {
    throw new ConfigError(`TEMPORAL_NAMESPACE is not a valid namespace name: '${namespace}'`);
  }
  const taskQueue = env.TEMPORAL_TASK_QUEUE?.trim() || DEFAULT_TASK_QUEUE;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,199}$/.test(taskQueue)) {
    throw new ConfigError(`TEMPORAL_TASK_QUEUE is not a valid task queue name: '${taskQueue}'`);
  }
  const tls = loadTlsSettings(env);
  const apiKey = env.TEMPORAL_API_KEY?.trim();
  return { address, namespace, taskQueue, ...(tls ? { tls } : {}), ...(apiKey ? { apiKey } : {}) };
}

/**
 * TLS from the same variables as the `temporal` CLI: TEMPORAL_TLS (true/false), TEMPORAL_TLS_CLIENT_CERT_PATH with
 * TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME. Any of them, or
 * TEMPORAL_API_KEY, turns TLS on unless TEMPORAL_TLS=false.
 */
function loadTlsSettings(env: Record<string, string | undefined>): TemporalTlsSettings | undefined {
  const flag = env.TEMPORAL_TLS?.trim().toLowerCase();
  if (flag && !['true', 'false', '1', '0'].includes(flag)) {
    throw new ConfigError(`TEMPORAL_TLS must be true or false, got '${env.TEMPORAL_TLS}'`);
  }
  const v = (name: string) => env[name]?.trim() || undefined;
  const cert = v('TEMPORAL_TLS_CLIENT_CERT_PATH');
  const key = v('TEMPORAL_TLS_CLIENT_KEY_PATH');
  if (Boolean(cert) !== Boolean(key)) {
    throw new ConfigError(
      'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together: set both or neither',
    );
  }
  const ca = v('TEMPORAL_TLS_SERVER_CA_CERT_PATH');
  const serverName = v('TEMPORAL_TLS_SERVER_NAME');
  const off = flag === 'false' || flag === '0';
  if (off && (cert || ca || serverName)) {
    throw new ConfigError('TEMPORAL_TLS=false but TLS files or a server name are set');
  }
  const on = flag === 'true' || flag === '1' || Boolean(cert || ca || serverName || v('TEMPORAL_API_KEY'));
  if (off || !on) return undefined;
  return {
    ...(cert && key ? { clientCertPath: cert, clientKeyPath: key } : {}),
    ...(ca ? { serverCaCertPath: ca } : {}),
    ...(serverName ? { serverName } : {}),
  };
}

export interface QdrantSettings {
  url: string;
  apiKey?: string;
  backupRoot: string;
  embeddings?: { url: string; model: string; apiKey?: string };
}

/** Qdrant and backup settings for workers (secrets stay in the worker's environment, never in workflow input). */
export function loadQdrantSettings(
  defaultBackupRoot: string,
  env: Record<string, string | undefined> = process.env,
): QdrantSettings {
  const url = env.QDRANT_URL?.trim() || 'http://127.0.0.1:6333';
  if (!/^https?:\/\/[^\s/]+/.test(url)) throw new ConfigError(`QDRANT_URL must be an http(s) URL, got '${url}'`);
  const backupRoot = env.CORTEX_BACKUP_DIR?.trim() || defaultBackupRoot;
  const embUrl = env.CORTEX_EMBEDDINGS_URL?.trim();
  if (embUrl && !/^https?:\/\/[^\s/]+/.test(embUrl))
    throw new ConfigError(`CORTEX_EMBEDDINGS_URL must be an http(s) URL`);
  return {
    url,
    ...(env.QDRANT_API_KEY ? { apiKey: env.QDRANT_API_KEY } : {}),
    backupRoot,
    ...(embUrl
      ? {
          embeddings: {
            url: embUrl,
            model: env.CORTEX_EMBEDDINGS_MODEL?.trim() || 'text-embedding-ada-002',
            ...(env.CORTEX_EMBEDDINGS_API_KEY ? { apiKey: env.CORTEX_EMBEDDINGS_API_KEY } : {}),
          },
        }
      : {}),
  };
}

export interface NotifyConfig {
  slackWebhookUrl?: string;
  pagerDuty?: { url: string; routingKey: string };
  stateDir: string;
  webUiUrl?: string;
}

/**
 * Notification channels of a worker (secrets: they stay in the worker's environment, never in workflow input):
 * CORTEX_SLACK_WEBHOOK_URL; CORTEX_PAGERDUTY_ROUTING_KEY with CORTEX_PAGERDUTY_URL (default: the Events API v2
 * enqueue URL). Delivered Slack keys are remembered under CORTEX_DATA_DIR/notify (default `<defaultDataDir>`).
 * CORTEX_WEB_UI_URL (optional): the Temporal Web UI, so each message links to the run's history.
 */
export function loadNotifySettings(
  defaultDataDir: string,
  defaultPagerDutyUrl: string,
  env: Record<string, string | undefined> = process.env,
): NotifyConfig {
  const url = (name: string): string | undefined => {
    const v = env[name]?.trim();
    if (v && !/^https?:\/\/[^\s/]+/.test(v)) throw new ConfigError(`${name} must be an http(s) URL`);
    return v || undefined;
  };
  const slack = url('CORTEX_SLACK_WEBHOOK_URL');
  const pdUrl = url('CORTEX_PAGERDUTY_URL');
  const routingKey = env.CORTEX_PAGERDUTY_ROUTING_KEY?.trim();
  const webUiUrl = url('CORTEX_WEB_UI_URL');
  if (pdUrl && !routingKey) {
    throw new ConfigError('CORTEX_PAGERDUTY_URL is set but CORTEX_PAGERDUTY_ROUTING_KEY is not');
  }
  const dataDir = env.CORTEX_DATA_DIR?.trim() || defaultDataDir;
  return {
    ...(slack ? { slackWebhookUrl: slack } : {}),
    ...(routingKey ? { pagerDuty: { url: pdUrl ?? defaultPagerDutyUrl, routingKey } } : {}),
    stateDir: `${dataDir.replace(/\/+$/, '')}/notify`,
    ...(webUiUrl ? { webUiUrl } : {}),
  };
}
