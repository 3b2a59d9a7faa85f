// `npm run cluster -- up|down|status [--purge]`: a real Temporal cluster on this machine — PostgreSQL 15 (its own
// initdb folder, 127.0.0.1 on its own port) and the Temporal server v1.29.1 run as four processes (frontend,
// history, matching, worker) built by scripts/provision-cluster.sh — with the namespace and the project's search
// attributes registered. Everything lives in one folder (CORTEX_CLUSTER_DIR, default
// /var/cache/cortex-rollback/cluster): pgdata/, config/, logs/<service>.log, pids/<service>.pid.
// CORTEX_CLUSTER_TLS=1: mTLS on the frontend (a private CA and certificates generated in tls/; `up` prints the
// TEMPORAL_TLS_* variables workers and the CLI need).
// Ports from CORTEX_CLUSTER_PORT (the frontend, default 7600): history +1, matching +2, worker +3, frontend HTTP
// +4, membership +10..+13, PostgreSQL +20.
// Invariants: idempotent (up on a running cluster only re-checks it; down on a stopped one does nothing); a pid is
// signalled only when /proc says that process runs with this cluster's folder, so nothing else is ever killed.
// PostgreSQL refuses to run as root: as root, initdb/pg_ctl run as the 'postgres' user (runuser), which owns pgdata/.
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { TemporalSettings } from '../common/config.ts';
import { connectionOptions } from '../common/connection.ts';
import { SEARCH_ATTRIBUTES } from '../common/dev-server.ts';
import { PROJECT_ROOT } from '../common/tools.ts';

export const TEMPORAL_SERVER_VERSION = '1.29.1';
const CACHE = process.env.CORTEX_CACHE?.trim() || '/var/cache/cortex-rollback';
export const SERVER_DIR = join(CACHE, `temporal-server-${TEMPORAL_SERVER_VERSION}`);
export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type Service = (typeof SERVICES)[number];
const PG_USER = 'temporal';
const SERVING = proto.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING;
const IndexedValueType = proto.temporal.api.enums.v1.IndexedValueType;
const PG_PASSWORD = 'temporal';

/** The dynamic config of every cluster: the dev server's (common/dev-server.ts) plus fresh search attributes. */
const DYNAMIC_CONFIG: Record<string, unknown> = {
  'history.timerProcessorMaxTimeShift': '20ms',
  'system.forceSearchAttributesCacheRefreshOnRead': true,
};

export interface ClusterOptions {
  dir: string;
  /** The frontend's gRPC port; every other port is derived from it. */
  port: number;
  namespace: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** mTLS on the frontend (certificates generated in <dir>/tls; clients need clientSettings()'s files). */
  tls?: boolean;
}

export function clusterOptions(env: Record<string, string | undefined> = process.env): ClusterOptions {
  const port = Number(env.CORTEX_CLUSTER_PORT?.trim() || 7600);
  if (!Number.isInteger(port) || port < 1024 || port > 65515) {
    throw new Error(`CORTEX_CLUSTER_PORT must be a port between 1024 and 65515, got '${env.CORTEX_CLUSTER_PORT}'`);
  }
  return {
    dir: env.CORTEX_CLUSTER_DIR?.trim() || join(CACHE, 'cluster'),
    port,
    namespace: env.TEMPORAL_NAMESPACE?.trim() || 'default',
    tls: ['1', 'true'].includes(env.CORTEX_CLUSTER_TLS?.trim() ?? ''),
  };
}

/** The frontend's TLS name in the generated certificate (the address stays 127.0.0.1). */
export const TLS_SERVER_NAME = 'frontend.cortex-cluster.local';

function tlsFile(o: ClusterOptions, name: string): string {
  return join(o.dir, 'tls', name);
}

/**
 * How a client or worker reaches this cluster: with TLS on, the generated client certificate (clientAuth), the
 * cluster's CA and the certificate's server name — the TEMPORAL_TLS_* variables `up` prints.
 */
export function clientSettings(o: ClusterOptions, taskQueue = 'cortex-rollback'): TemporalSettings {
  return {
    address: clusterAddress(o),
    namespace: o.namespace,
    taskQueue,
    ...(o.tls
      ? {
          tls: {
            clientCertPath: tlsFile(o, 'client.pem'),
            clientKeyPath: tlsFile(o, 'client.key'),
            serverCaCertPath: tlsFile(o, 'ca.pem'),
            serverName: TLS_SERVER_NAME,
          },
        }
      : {}),
  };
}

/** The environment a worker or the CLI needs for clientSettings(). */
export function clientEnv(o: ClusterOptions): Record<string, string> {
  const s = clientSettings(o);
  return {
    TEMPORAL_ADDRESS: s.address,
    TEMPORAL_NAMESPACE: s.namespace,
    ...(s.tls
      ? {
          TEMPORAL_TLS_CLIENT_CERT_PATH: s.tls.clientCertPath!,
          TEMPORAL_TLS_CLIENT_KEY_PATH: s.tls.clientKeyPath!,
          TEMPORAL_TLS_SERVER_CA_CERT_PATH: s.tls.serverCaCertPath!,
          TEMPORAL_TLS_SERVER_NAME: s.tls.serverName!,
        }
      : {}),
  };
}

/** A private CA, the frontend's certificate and a client certificate (workers, CLI, system worker); kept if present. */
async function generateCerts(o: ClusterOptions, log: (m: string) => void): Promise<void> {
  if (existsSync(tlsFile(o, 'client.pem'))) return;
  log(`generating the cluster's CA and certificates in ${join(o.dir, 'tls')}`);
  mkdirSync(join(o.dir, 'tls'), { recursive: true, mode: 0o700 });
  const ssl = (args: string[]) => execa('openssl', args, { cwd: join(o.dir, 'tls'), all: true });
  await ssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '825',
    '-subj',
    '/CN=cortex-cluster-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  for (const [name, cn, usage, san] of [
    ['server', TLS_SERVER_NAME, 'serverAuth', `DNS:${TLS_SERVER_NAME},IP:127.0.0.1`],
    ['client', 'cortex-rollback-worker', 'clientAuth', 'DNS:cortex-rollback-worker'],
  ] as const) {
    await ssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ]);
    writeFileSync(tlsFile(o, `${name}.ext`), `extendedKeyUsage=${usage}\nsubjectAltName=${san}\n`);
    await ssl([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '825',
      '-extfile',
      `${name}.ext`,
    ]);
  }
}

/** global.tls of the server config: mTLS on the frontend, the system worker presenting the client certificate. */
function tlsConfig(o: ClusterOptions): string {
  const f = (n: string) => JSON.stringify(tlsFile(o, n));
  return [
    '  tls:',
    '    frontend:',
    '      server:',
    `        certFile: ${f('server.pem')}`,
    `        keyFile: ${f('server.key')}`,
    '        requireClientAuth: true',
    `        clientCaFiles: [${f('ca.pem')}]`,
    '      client:',
    `        serverName: ${TLS_SERVER_NAME}`,
    `        rootCaFiles: [${f('ca.pem')}]`,
    '    systemWorker:',
    `      certFile: ${f('client.pem')}`,
    `      keyFile: ${f('client.key')}`,
    '      client:',
    `        serverName: ${TLS_SERVER_NAME}`,
    `        rootCaFiles: [${f('ca.pem')}]`,
    '',
  ].join('\n');
}

const servicePort = (o: ClusterOptions, s: Service) => o.port + SERVICES.indexOf(s);
export const pgPort = (o: ClusterOptions): number => o.port + 20;
export const clusterAddress = (o: ClusterOptions): string => `127.0.0.1:${o.port}`;
const pidFile = (o: ClusterOptions, s: Service) => join(o.dir, 'pids', `${s}.pid`);
export const serviceLog = (o: ClusterOptions, s: Service): string => join(o.dir, 'logs', `${s}.log`);
const pgData = (o: ClusterOptions) => join(o.dir, 'pgdata');

const asRoot = process.getuid?.() === 0;

/** A PostgreSQL program, as the 'postgres' user when we are root (PostgreSQL refuses root). */
function pg(program: string, args: string[], opts: { reject?: boolean } = {}) {
  const bin = join(PG_BIN, program);
  return asRoot
    ? execa('runuser', ['-u', 'postgres', '--', bin, ...args], { reject: opts.reject ?? true, all: true })
    : execa(bin, args, { reject: opts.reject ?? true, all: true });
}

/** One SQL statement through psql over TCP; the unaligned, tuples-only output. */
export async function psql(o: ClusterOptions, sql: string, database = 'temporal'): Promise<string> {
  const r = await execa(
    join(PG_BIN, 'psql'),
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(pgPort(o)),
      '-U',
      PG_USER,
      '-d',
      database,
      '-At',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      sql,
    ],
    { env: { PGPASSWORD: PG_PASSWORD }, all: true },
  );
  return r.stdout.trim();
}

async function postgresRunning(o: ClusterOptions): Promise<boolean> {
  if (!existsSync(join(pgData(o), 'PG_VERSION'))) return false;
  return (await pg('pg_ctl', ['-D', pgData(o), 'status'], { reject: false })).exitCode === 0;
}

async function initPostgres(o: ClusterOptions, log: (m: string) => void): Promise<void> {
  if (existsSync(join(pgData(o), 'PG_VERSION'))) return;
  log(`initdb ${pgData(o)}`);
  mkdirSync(pgData(o), { recursive: true, mode: 0o700 });
  const pw = join(o.dir, 'pgpass.tmp');
  writeFileSync(pw, `${PG_PASSWORD}\n`, { mode: 0o600 });
  if (asRoot) {
    const { stdout } = await execa('id', ['-u', 'postgres']);
    const { stdout: gid } = await execa('id', ['-g', 'postgres']);
    chownSync(pgData(o), Number(stdout), Number(gid));
    chownSync(pw, Number(stdout), Number(gid));
  }
  try {
    await pg('initdb', [
      '-D',
      pgData(o),
      '-U',
      PG_USER,
      `--pwfile=${pw}`,
      '--auth-host=scram-sha-256',
      '--auth-local=trust',
      '-E',
      'UTF8',
      '--locale=C',
    ]);
  } finally {
    rmSync(pw, { force: true });
  }
  // Our own port on 127.0.0.1 only; the socket in pgdata/ (never the system's /var/run/postgresql).
  const conf = [
    `listen_addresses = '127.0.0.1'`,
    `port = ${pgPort(o)}`,
    `unix_socket_directories = '${pgData(o)}'`,
    `max_connections = 200`,
    `logging_collector = off`,
  ];
  const confPath = join(pgData(o), 'postgresql.conf');
  writeFileSync(confPath, `${readFileSync(confPath, 'utf8')}\n# cortex-rollback cluster\n${conf.join('\n')}\n`);
}

async function startPostgres(o: ClusterOptions, log: (m: string) => void): Promise<void> {
  if (await postgresRunning(o)) return;
  log(`PostgreSQL on 127.0.0.1:${pgPort(o)}`);
  await pg('pg_ctl', ['-D', pgData(o), '-l', join(pgData(o), 'postgres.log'), '-w', '-t', '120', 'start']);
}

/** `pg_ctl restart -m fast`: every connection is dropped; the services reconnect. */
export async function restartPostgres(o: ClusterOptions): Promise<void> {
  await pg('pg_ctl', [
    '-D',
    pgData(o),
    '-l',
    join(pgData(o), 'postgres.log'),
    '-w',
    '-t',
    '120',
    '-m',
    'fast',
    'restart',
  ]);
}

function sqlTool(o: ClusterOptions, database: string, args: string[]) {
  return execa(
    join(SERVER_DIR, 'sql'),
    [
      '--plugin',
      'postgres12',
      '--ep',
      '127.0.0.1',
      '-p',
      String(pgPort(o)),
      '-u',
      PG_USER,
      '--pw',
      PG_PASSWORD,
      '--db',
      database,
      ...args,
    ],
    { all: true },
  );
}

/**
 * create-database + setup-schema -v 0.0 once, then update-schema every time (it applies only newer versions), then
 * config/postgres-visibility-text.sql.
 */
async function setupSchemas(o: ClusterOptions, log: (m: string) => void): Promise<void> {
  for (const [database, schema] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ] as const) {
    const exists = await psql(o, `SELECT 1 FROM pg_database WHERE datname = '${database}'`, 'postgres');
    if (exists !== '1') {
      log(`creating database ${database}`);
      await sqlTool(o, database, ['create-database']);
      await sqlTool(o, database, ['setup-schema', '-v', '0.0']);
    }
    await sqlTool(o, database, [
      'update-schema',
      '-d',
      join(SERVER_DIR, 'schema', 'postgresql', 'v12', schema, 'versioned'),
    ]);
  }
  // Text search attributes with a ':' would fail every visibility write (see the file's header)
  await psql(
    o,
    readFileSync(join(PROJECT_ROOT, 'config', 'postgres-visibility-text.sql'), 'utf8'),
    'temporal_visibility',
  );
}

function renderConfig(o: ClusterOptions): void {
  const dynamicConfig = join(o.dir, 'config', 'dynamicconfig.yaml');
  const values: Record<string, string | number> = {
    LOG_LEVEL: o.logLevel ?? 'warn',
    PG_PORT: pgPort(o),
    PG_USER,
    PG_PASSWORD,
    DYNAMIC_CONFIG: dynamicConfig,
    FRONTEND_HTTP_PORT: o.port + 4,
  };
  for (const s of SERVICES) {
    values[`${s.toUpperCase()}_PORT`] = servicePort(o, s);
    values[`${s.toUpperCase()}_MEMBERSHIP_PORT`] = servicePort(o, s) + 10;
  }
  const template = readFileSync(join(PROJECT_ROOT, 'config', 'temporal-cluster.yaml'), 'utf8');
  const yaml = template.replace(/\$\{([A-Z_]+)\}/g, (_, k: string) => {
    if (values[k] === undefined) throw new Error(`config/temporal-cluster.yaml: no value for the placeholder ${k}`);
    return String(values[k]);
  });
  mkdirSync(join(o.dir, 'config'), { recursive: true });
  writeFileSync(
    join(o.dir, 'config', 'cluster.yaml'),
    o.tls ? yaml.replace(/^global:\n/m, `global:\n${tlsConfig(o)}`) : yaml,
  );
  writeFileSync(
    dynamicConfig,
    Object.entries(DYNAMIC_CONFIG)
      .map(([k, v]) => `${k}:\n  - value: ${JSON.stringify(v)}\n`)
      .join(''),
  );
}

/** The pid of the cluster's service, when that process is alive and is this cluster's (its --root is our dir). */
export function servicePid(o: ClusterOptions, s: Service): number | undefined {
  if (!existsSync(pidFile(o, s))) return undefined;
  const pid = Number(readFileSync(pidFile(o, s), 'utf8').trim());
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return undefined;
    return cmd.includes(o.dir) && cmd.includes(s) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts one service as a detached process (it outlives `npm run cluster -- up`), its output in logs/<s>.log. */
export function startService(o: ClusterOptions, s: Service): number {
  const running = servicePid(o, s);
  if (running) return running;
  mkdirSync(join(o.dir, 'logs'), { recursive: true });
  mkdirSync(join(o.dir, 'pids'), { recursive: true });
  const out = openSync(serviceLog(o, s), 'a');
  const child = spawn(
    join(SERVER_DIR, 'server'),
    ['--root', o.dir, '--config', 'config', '--env', 'cluster', '--allow-no-auth', 'start', '--service', s],
    { cwd: o.dir, detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  child.unref();
  if (!child.pid) throw new Error(`could not start the ${s} service (see ${serviceLog(o, s)})`);
  writeFileSync(pidFile(o, s), `${child.pid}\n`);
  return child.pid;
}

/** Signals one service (SIGKILL: a crash) and waits until the process is gone. */
export async function stopService(o: ClusterOptions, s: Service, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const pid = servicePid(o, s);
  if (!pid) return;
  process.kill(pid, signal);
  for (let i = 0; i < 300 && servicePid(o, s) === pid; i++) {
    if (i === 200) process.kill(pid, 'SIGKILL');
    await sleep(100);
  }
  rmSync(pidFile(o, s), { force: true });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function grpcCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? Number(err.code) : undefined;
}

/**
 * Ready means the whole path works: the frontend answers, the namespace exists, and a history call for a workflow
 * that does not exist is answered NOT_FOUND (so history owns its shards and PostgreSQL answers).
 */
async function namespaceReady(connection: Connection, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeWorkflowExecution({
      namespace,
      execution: { workflowId: 'cortex-cluster-readiness-probe' },
    });
    return true;
  } catch (err) {
    return grpcCode(err) === 5;
  }
}

async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  o: ClusterOptions,
  services: readonly Service[] = SERVICES,
) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    for (const s of services) {
      if (!servicePid(o, s)) throw new Error(`the ${s} service exited; see ${serviceLog(o, s)}`);
    }
    await sleep(500);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; logs in ${join(o.dir, 'logs')}`);
}

/** Registers the namespace (1-day retention) and the project's search attributes, where missing. */
async function registerNamespace(connection: Connection, o: ClusterOptions, log: (m: string) => void): Promise<void> {
  const exists = await connection.workflowService.describeNamespace({ namespace: o.namespace }).then(
    () => true,
    (err: unknown) => {
      if (grpcCode(err) === 5) return false;
      throw err;
    },
  );
  if (!exists) {
    log(`registering namespace ${o.namespace}`);
    await connection.workflowService
      .registerNamespace({ namespace: o.namespace, workflowExecutionRetentionPeriod: msToTs('1 day') })
      .catch((err: unknown) => {
        if (grpcCode(err) !== 6) throw err; // ALREADY_EXISTS: another `up` won the race
      });
  }
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: o.namespace });
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([k]) => !customAttributes?.[k]);
  if (missing.length > 0) {
    log(`registering search attributes ${missing.map(([k]) => k).join(', ')}`);
    await connection.operatorService.addSearchAttributes({
      namespace: o.namespace,
      searchAttributes: Object.fromEntries(
        missing.map(([k, t]) => [
          k,
          t === 'Text' ? IndexedValueType.INDEXED_VALUE_TYPE_TEXT : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        ]),
      ),
    });
  }
}

/** Brings the cluster up (or checks the running one) and returns once a rollback can be started on it. */
export async function clusterUp(o: ClusterOptions, log: (m: string) => void = () => undefined): Promise<void> {
  if (!existsSync(join(SERVER_DIR, 'server')) || !existsSync(join(SERVER_DIR, 'schema'))) {
    await execa('bash', [join(PROJECT_ROOT, 'scripts', 'provision-cluster.sh')], { stdio: 'inherit' });
  }
  mkdirSync(o.dir, { recursive: true, mode: 0o755 });
  await initPostgres(o, log);
  await startPostgres(o, log);
  await setupSchemas(o, log);
  if (o.tls) await generateCerts(o, log);
  renderConfig(o);
  for (const s of SERVICES) {
    if (!servicePid(o, s)) log(`starting ${s} (log ${serviceLog(o, s)})`);
    startService(o, s);
    // On a fresh database every service inserts the cluster's metadata row and all but one fail on the duplicate
    // key: the first one writes it alone.
    if (s === SERVICES[0]) {
      await until(
        async () => Number(await psql(o, 'SELECT count(*) FROM cluster_metadata_info')) > 0,
        120_000,
        'the cluster metadata',
        o,
        [s],
      );
    }
  }
  const connection = await connectWhenUp(o);
  try {
    await until(
      async () => (await connection.healthService.check({})).status === SERVING,
      120_000,
      'the frontend to serve',
      o,
    );
    await until(
      async () => {
        await registerNamespace(connection, o, log);
        return true;
      },
      120_000,
      `namespace ${o.namespace}`,
      o,
    );
    await until(() => namespaceReady(connection, o.namespace), 120_000, 'history to answer', o);
  } finally {
    await connection.close();
  }
  log(
    `ready: ${Object.entries(clientEnv(o))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
}

async function connectWhenUp(o: ClusterOptions): Promise<Connection> {
  let conn: Connection | undefined;
  await until(
    async () => {
      conn = await Connection.connect({ ...connectionOptions(clientSettings(o)), connectTimeout: 2000 });
      return true;
    },
    120_000,
    `the frontend on ${clusterAddress(o)}`,
    o,
  );
  return conn!;
}

/** Waits until the restarted cluster serves the namespace again (after a service or PostgreSQL restart). */
export async function waitReady(o: ClusterOptions, timeoutMs = 120_000): Promise<void> {
  const connection = await connectWhenUp(o);
  try {
    await until(() => namespaceReady(connection, o.namespace), timeoutMs, 'history to answer', o);
  } finally {
    await connection.close();
  }
}

export async function clusterDown(
  o: ClusterOptions,
  opts: { purge?: boolean } = {},
  log: (m: string) => void = () => undefined,
): Promise<void> {
  for (const s of [...SERVICES].reverse()) {
    if (servicePid(o, s)) log(`stopping ${s}`);
    await stopService(o, s);
  }
  if (await postgresRunning(o)) {
    log('stopping PostgreSQL');
    await pg('pg_ctl', ['-D', pgData(o), '-w', '-t', '60', '-m', 'fast', 'stop']);
  }
  if (opts.purge) {
    log(`removing ${o.dir}`);
    rmSync(o.dir, { recursive: true, force: true });
  }
}

export interface ClusterStatus {
  address: string;
  namespace: string;
  postgres: { port: number; running: boolean };
  services: Record<Service, number | undefined>;
  frontendServing: boolean;
  namespaceReady: boolean;
}

export async function clusterStatus(o: ClusterOptions): Promise<ClusterStatus> {
  const services = Object.fromEntries(SERVICES.map((s) => [s, servicePid(o, s)])) as Record<
    Service,
    number | undefined
  >;
  let frontendServing = false;
  let ready = false;
  if (services.frontend) {
    const connection = await Connection.connect({
      ...connectionOptions(clientSettings(o)),
      connectTimeout: 2000,
    }).catch(() => undefined);
    if (connection) {
      frontendServing = await connection.healthService.check({}).then(
        (r) => r.status === SERVING,
        () => false,
      );
      ready = frontendServing && (await namespaceReady(connection, o.namespace));
      await connection.close();
    }
  }
  return {
    address: clusterAddress(o),
    namespace: o.namespace,
    postgres: { port: pgPort(o), running: await postgresRunning(o) },
    services,
    frontendServing,
    namespaceReady: ready,
  };
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { purge: { type: 'boolean', default: false } },
  });
  const o = clusterOptions();
  const log = (m: string) => console.log(`[cluster] ${m}`);
  switch (positionals[0]) {
    case 'up': {
      const t0 = Date.now();
      await clusterUp(o, log);
      log(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s; workers: those variables, then npm run worker`);
      break;
    }
    case 'down':
      await clusterDown(o, { purge: values.purge ?? false }, log);
      log('down');
      break;
    case 'status': {
      const st = await clusterStatus(o);
      console.log(JSON.stringify(st, null, 2));
      process.exitCode = st.namespaceReady && st.postgres.running && SERVICES.every((s) => st.services[s]) ? 0 : 3;
      break;
    }
    default:
      console.error('usage: npm run cluster -- up | down [--purge] | status');
      process.exitCode = 2;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error('[cluster]', err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
