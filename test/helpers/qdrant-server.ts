// A real Qdrant 1.18.3 server for tests: one process (the binary `npm run provision` caches, see qdrantServerPath)
// on free 127.0.0.1 HTTP and gRPC ports, with its own storage and snapshot folders in a temp dir, telemetry off,
// optionally requiring an API key. Invariants: a server answers /healthz before start returns; restart() keeps the
// ports and the storage (a crash and a restart of the same server); stop() ends the process and removes its temp
// dir; no process outlives the test process (execa's cleanup kills children on exit and on signals, an exit hook
// kills any left and removes their dirs, and setpriv's parent-death signal covers a SIGKILLed test process).
import { QdrantClient } from '@qdrant/js-client-rest';
import { execa, type ResultPromise } from 'execa';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { qdrantServerPath } from '../../common/tools.ts';
import { freePort } from './docker.ts';

export interface QdrantServer {
  url: string;
  apiKey?: string;
  httpPort: number;
  grpcPort: number;
  /** The server's own snapshots path: `file://` recovery must point inside it. */
  snapshotsPath: string;
  storagePath: string;
  /** A client for this server (with its API key). */
  client: QdrantClient;
  /** The server's log so far (stdout and stderr). */
  output(): string;
  /** Whether the process is running. */
  running(): boolean;
  /** SIGKILL, as a crash would; storage stays for restart(). */
  kill(): Promise<void>;
  /** Stops the process (gracefully unless killed already) and starts it again on the same ports and storage. */
  restart(): Promise<void>;
  /** Ends the process (SIGKILL: its storage is removed anyway) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface QdrantServerOptions {
  /** Require this API key (`api-key` header) on every call but the health checks. */
  apiKey?: string;
  /** How long to wait for /healthz, in ms (default 20 s). */
  readyTimeoutMs?: number;
}

interface Live {
  proc: ResultPromise | undefined;
  dir: string;
}
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const live = new Set<Live>();
const isRunning = (p: ResultPromise): boolean => p.exitCode === null && p.signalCode === null;
process.once('exit', () => {
  for (const l of live) {
    l.proc?.kill('SIGKILL');
    rmSync(l.dir, { recursive: true, force: true });
  }
});

const PREFIX = 'cortex-qdrant-server-';

/** Temp dirs of servers whose test process was SIGKILLed (no exit hook ran): their owner pid is gone. */
async function removeOrphanedDirs(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [])) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const owner = Number(await readFile(join(dir, 'owner.pid'), 'utf8').catch(() => 'NaN'));
    if (!Number.isInteger(owner) || owner === process.pid) continue;
    try {
      process.kill(owner, 0);
    } catch {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

export async function startQdrantServer(opts: QdrantServerOptions = {}): Promise<QdrantServer> {
  const bin = qdrantServerPath();
  await removeOrphanedDirs();
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  await writeFile(join(dir, 'owner.pid'), String(process.pid));
  const storagePath = join(dir, 'storage');
  const snapshotsPath = join(dir, 'snapshots');
  await mkdir(storagePath);
  await mkdir(snapshotsPath);
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const url = `http://127.0.0.1:${httpPort}`;
  const state: Live = { proc: undefined, dir };
  live.add(state);
  let log = '';
  let stopped = false;

  const spawn = async (): Promise<void> => {
    // setpriv execs qdrant with PDEATHSIG=KILL: even a SIGKILLed test process leaves no server behind.
    const [file, args] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', bin]] : [bin, []];
    const proc = execa(file, args, {
      cwd: dir, // Qdrant writes .qdrant-initialized into its working directory
      env: {
        QDRANT__SERVICE__HOST: '127.0.0.1',
        QDRANT__SERVICE__HTTP_PORT: String(httpPort),
        QDRANT__SERVICE__GRPC_PORT: String(grpcPort),
        QDRANT__STORAGE__STORAGE_PATH: storagePath,
        QDRANT__STORAGE__SNAPSHOTS_PATH: snapshotsPath,
        QDRANT__TELEMETRY_DISABLED: 'true',
        QDRANT__LOG_LEVEL: 'WARN',
        ...(opts.apiKey ? { QDRANT__SERVICE__API_KEY: opts.apiKey } : {}),
      },
      extendEnv: false,
      reject: false,
      all: true,
      buffer: false,
      stdin: 'ignore',
      cleanup: true,
    });
    state.proc = proc;
    proc.all?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-20_000);
    });
    let exited = false;
    void proc.then(() => {
      exited = true;
    });
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
    for (;;) {
      if (exited) throw new Error(`qdrant exited before it answered /healthz:\n${log}`);
      const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        await proc;
        throw new Error(`qdrant did not answer ${url}/healthz within ${opts.readyTimeoutMs ?? 20_000} ms:\n${log}`);
      }
      await sleep(100);
    }
  };

  const end = async (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    const proc = state.proc;
    if (!proc || !isRunning(proc)) {
      if (proc) await proc;
      state.proc = undefined;
      return;
    }
    proc.kill(signal);
    const done = await Promise.race([proc.then(() => true), sleep(10_000, false, { ref: false })]);
    if (!done) {
      proc.kill('SIGKILL');
      await proc;
    }
    state.proc = undefined;
  };

  try {
    await spawn();
  } catch (err) {
    live.delete(state);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const client = new QdrantClient({ url, ...(opts.apiKey ? { apiKey: opts.apiKey } : {}), checkCompatibility: false });
  return {
    url,
    ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
    httpPort,
    grpcPort,
    snapshotsPath,
    storagePath,
    client,
    output: () => log,
    running: () => state.proc !== undefined && isRunning(state.proc),
    kill: () => end('SIGKILL'),
    restart: async () => {
      if (stopped) throw new Error('qdrant server was stopped; start a new one');
      await end('SIGTERM');
      await spawn();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await end('SIGKILL'); // its storage goes with it: nothing to flush, and SIGTERM waits for idle keep-alives
      live.delete(state);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
