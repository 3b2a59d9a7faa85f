// `npm run dev`: the embedded default. Starts the Temporal dev server (127.0.0.1:7233, Web UI on 127.0.0.1:8233,
// persistent SQLite under .data/, the project's search attributes registered) and a worker, and keeps both
// running until Ctrl-C. Reuses a dev server that already answers on TEMPORAL_ADDRESS. With CORTEX_CODEC_KEYS set,
// also the codec server (common/codec-server.ts) on 127.0.0.1, and the Web UI is started pointing at it.
import { execa, type ResultPromise } from 'execa';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { codecFromEnv } from '../common/codec.ts';
import { loadCodecServerSettings, startCodecServer, type RunningCodecServer } from '../common/codec-server.ts';
import { loadTemporalSettings } from '../common/config.ts';
import { dynamicConfigArgs } from '../common/dev-server.ts';
import { PROJECT_ROOT, temporalCliPath } from '../common/tools.ts';
import { SEARCH_ATTRIBUTES } from '../workflows/phases/progress.ts';

export async function serverAnswers(address: string): Promise<boolean> {
  const r = await execa(temporalCliPath(), ['operator', 'cluster', 'health', '--address', address], { reject: false });
  return r.exitCode === 0 && /SERVING/.test(r.stdout);
}

/** The dev server's Web UI port: the frontend port + 1000, as `temporal server start-dev` defaults it. */
export function uiPort(address: string): number {
  return Number(address.split(':')[1]) + 1000;
}

/** The codec server for the Web UI when CORTEX_CODEC_KEYS is set (CORS for the dev server's UI origins). */
export async function startCodecServerForDev(): Promise<RunningCodecServer | undefined> {
  const codec = codecFromEnv();
  if (!codec) return undefined;
  const port = uiPort(loadTemporalSettings().address);
  const settings = loadCodecServerSettings(process.env, [`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
  const server = await startCodecServer(codec, settings).catch((err: unknown) => {
    throw new Error(
      `the codec server could not listen on 127.0.0.1:${settings.port} (${err instanceof Error ? err.message : String(err)}); ` +
        'set CORTEX_CODEC_PORT to a free port',
    );
  });
  console.log(`[dev] codec server ${server.url} (payloads encrypted with key '${codec.encryptingKeyId}')`);
  return server;
}

/**
 * Starts the dev server unless one answers; returns the child (none when reused). Wrapped: a child is thenable.
 * `codecEndpoint`: the Web UI decodes payloads through it (`--ui-codec-endpoint`).
 */
export async function startDevServer(opts: { codecEndpoint?: string } = {}): Promise<{ proc?: ResultPromise }> {
  const settings = loadTemporalSettings();
  if (await serverAnswers(settings.address)) {
    console.log(`[dev] reusing the Temporal server at ${settings.address}`);
    if (opts.codecEndpoint) {
      console.log(`[dev] its Web UI was not started by us: set its codec endpoint to ${opts.codecEndpoint} by hand`);
    }
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
    String(uiPort(settings.address)),
    ...(opts.codecEndpoint ? ['--ui-codec-endpoint', opts.codecEndpoint] : []),
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
  const codecServer = await startCodecServerForDev();
  const { proc: server } = await startDevServer(codecServer ? { codecEndpoint: codecServer.url } : {});
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
  await codecServer?.close();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
