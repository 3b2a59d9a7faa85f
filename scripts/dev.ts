// `npm run dev`: the embedded default. Starts the Temporal dev server (127.0.0.1:7233, Web UI on 127.0.0.1:8233,
// persistent SQLite under .data/, the project's search attributes registered) and a worker, and keeps both
// running until Ctrl-C. Reuses a dev server that already answers on TEMPORAL_ADDRESS.
import { execa, type ResultPromise } from 'execa';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadTemporalSettings } from '../common/config.ts';
import { dynamicConfigArgs } from '../common/dev-server.ts';
import { PROJECT_ROOT, temporalCliPath } from '../common/tools.ts';
import { SEARCH_ATTRIBUTES } from '../workflows/phases/progress.ts';

export async function serverAnswers(address: string): Promise<boolean> {
  const r = await execa(temporalCliPath(), ['operator', 'cluster', 'health', '--address', address], { reject: false });
  return r.exitCode === 0 && /SERVING/.test(r.stdout);
}

/** Starts the dev server unless one answers; returns the child (none when reused). Wrapped: a child is thenable. */
export async function startDevServer(): Promise<{ proc?: ResultPromise }> {
  const settings = loadTemporalSettings();
  if (await serverAnswers(settings.address)) {
    console.log(`[dev] reusing the Temporal server at ${settings.address}`);
    return {};
  }
  const [ip, port] = settings.address.split(':') as [string, string];
  mkdirSync(join(PROJECT_ROOT, '.data'), { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    port,
    '--ui-port',
    String(Number(port) + 1000),
    '--db-filename',
    join(PROJECT_ROOT, '.data', 'temporal.db'),
    '--log-level',
    'error',
    '--namespace',
    settings.namespace,
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
    ...dynamicConfigArgs(),
  ];
  const server = execa(temporalCliPath(), args, { stdio: 'inherit', reject: false });
  for (let i = 0; i < 60 && !(await serverAnswers(settings.address)); i++) {
    if (server.exitCode !== null) throw new Error(`temporal server start-dev exited with ${server.exitCode}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  if (!(await serverAnswers(settings.address))) throw new Error(`the dev server did not answer on ${settings.address}`);
  console.log(`[dev] Temporal dev server on ${settings.address}, Web UI http://${ip}:${Number(port) + 1000}`);
  return { proc: server };
}

export function startWorkerProcess(extra: string[] = []): ResultPromise {
  return execa('node', ['--import', 'tsx', join(PROJECT_ROOT, 'workers', 'main.ts'), ...extra], {
    stdio: 'inherit',
    reject: false,
  });
}

async function main(): Promise<void> {
  const { proc: server } = await startDevServer();
  const worker = startWorkerProcess();
  const stop = () => {
    worker.kill('SIGTERM');
    server?.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await worker;
  server?.kill('SIGTERM');
  await server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
