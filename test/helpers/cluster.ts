// A real Temporal cluster per test file (scripts/cluster.ts): PostgreSQL and the four server processes in a fresh
// folder on ports of their own, torn down and removed by stop(). Provisioning (the cached server build) runs first,
// so a fresh clone on this machine needs nothing else.
import { execa } from 'execa';
import { chmodSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type RollbackClient } from '../../client/client.ts';
import { PROJECT_ROOT } from '../../common/tools.ts';
import {
  clientEnv,
  clientSettings,
  clusterAddress,
  clusterDown,
  clusterUp,
  pgPort,
  type ClusterOptions,
} from '../../scripts/cluster.ts';

export interface TestCluster {
  options: ClusterOptions;
  address: string;
  /** TEMPORAL_* variables for a worker process or the CLI (with TLS on: the client certificate, CA, server name). */
  env: Record<string, string>;
  /** A client on the cluster for that task queue (closed by stop()). */
  client(taskQueue: string): Promise<RollbackClient>;
  stop(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A frontend port whose derived ports (scripts/cluster.ts: +0..+4, +10..+13, +20) are all free. */
async function freeBasePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + 32 * Math.floor(Math.random() * 300);
    const o = { dir: '', port: base, namespace: 'default' };
    const ports = [0, 1, 2, 3, 4, 10, 11, 12, 13].map((d) => base + d).concat(pgPort(o));
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free block of ports for the test cluster');
}

export async function startTestCluster(
  log: (m: string) => void = () => undefined,
  opts: { tls?: boolean } = {},
): Promise<TestCluster> {
  await execa('bash', [join(PROJECT_ROOT, 'scripts', 'provision-cluster.sh')], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'cortex-cluster-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as 'postgres' when we are root: it must reach pgdata/
  const options: ClusterOptions = { dir, port: await freeBasePort(), namespace: 'default', tls: opts.tls ?? false };
  const clients: RollbackClient[] = [];
  const t0 = Date.now();
  try {
    await clusterUp(options, log);
  } catch (err) {
    await clusterDown(options, { purge: false }).catch(() => undefined);
    throw err;
  }
  log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s on ${clusterAddress(options)} (${dir})`);
  return {
    options,
    address: clusterAddress(options),
    env: clientEnv(options),
    async client(taskQueue) {
      const rc = await connect(clientSettings(options, taskQueue));
      clients.push(rc);
      return rc;
    },
    async stop() {
      for (const c of clients) await c.close().catch(() => undefined);
      // CORTEX_KEEP_CLUSTER=1 keeps the folder (logs, pgdata) for a post-mortem
      await clusterDown(options, { purge: !process.env.CORTEX_KEEP_CLUSTER });
    },
  };
}
