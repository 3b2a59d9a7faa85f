// Owns what the fault matrix runs against and breaks on purpose: its own Temporal dev server (persistent SQLite, so
// a SIGKILL and a restart on the same port lose nothing), its own dockerd (never the machine's: other people use
// that one) with the demo images loaded into it, and the workers — one polling, one warm standby that starts
// polling the moment the active one is killed, so the killed worker is always the one running the rollback.
// Invariants: every process here is started by the harness and stopped by its pid; the machine's dockerd is only
// read from (`docker save`); the harness's dockerd shares the machine's network namespace, so it is given a bridge
// of its own (created before it starts, deleted after it stops) and never touches iptables, ip_forward or docker0.
import Dockerode from 'dockerode';
import { execa, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { temporalCliPath } from '../../common/tools.ts';
import { SEARCH_ATTRIBUTES } from '../../workflows/phases/progress.ts';
import { spawnWorker, type WorkerProcess } from '../../test/helpers/worker-process.ts';
import { serverAnswers } from '../dev.ts';

const MACHINE_DOCKER = 'unix:///var/run/docker.sock';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// ---------------------------------------------------------------- Temporal dev server

export class DevServer {
  readonly address: string;
  private proc?: ResultPromise;
  private readonly log;

  constructor(
    private readonly dir: string,
    readonly port: number,
  ) {
    this.address = `127.0.0.1:${port}`;
    this.log = createWriteStream(join(dir, 'temporal.log'), { flags: 'a' });
  }

  async start(): Promise<void> {
    const args = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--headless',
      '--db-filename',
      join(this.dir, 'temporal.db'),
      '--log-level',
      'error',
      ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
    ];
    const proc = execa(temporalCliPath(), args, { reject: false, stdin: 'ignore', all: true, buffer: false });
    proc.all?.pipe(this.log, { end: false });
    this.proc = proc;
    await until(
      'the Temporal dev server',
      60_000,
      async () => {
        if (proc.exitCode !== null) throw new Error(`temporal server start-dev exited with ${proc.exitCode}`);
        return serverAnswers(this.address);
      },
      250,
    );
  }

  /** SIGKILL (no graceful shutdown: what survives is what SQLite had committed). */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    p.kill('SIGKILL');
    await p;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await p;
    clearTimeout(t);
  }
}

// ---------------------------------------------------------------- a dockerd of our own

export interface DockerEvent {
  at: number;
  action: string;
  id: string;
  attributes: Record<string, string>;
}

/**
 * The harness dockerd's default bridge: a name and a 198.18.0.0/15 subnet (RFC 2544, in none of Docker's default
 * address pools) of its own, from its directory, so two harnesses on different directories do not share one.
 *
 * Why not `--bridge none`: a dockerd started with it deletes the link named `docker0` in its network namespace at
 * start-up (moby's configureNetworking → removeDefaultBridgeInterface), and this dockerd runs in the machine's
 * namespace: the machine's own dockerd then loses its bridge and every container on its default network fails to
 * start ("could not find bridge docker0"), until that dockerd is restarted. Issue 16.
 */
export function harnessBridge(dir: string): { name: string; bip: string } {
  const h = createHash('sha256').update(dir).digest();
  const i = h.readUInt16BE(0) % 512;
  return { name: `cxf-${h.toString('hex').slice(0, 8)}`, bip: `198.${18 + (i >> 8)}.${i & 255}.1/24` };
}

export class OwnDockerd {
  readonly socket: string;
  readonly host: string;
  readonly docker: Dockerode;
  /** The bridge this dockerd's default network uses (it exists only while the daemon does). */
  readonly bridge: { name: string; bip: string };
  /** Container events seen since the daemon was first started (re-subscribed after each restart). */
  readonly events: DockerEvent[] = [];
  private readonly pidFile: string;
  private proc?: ResultPromise;
  private generation = 0;
  private startedAt = Date.now();
  private readonly seen = new Set<string>();
  private stream?: NodeJS.ReadableStream & { destroy(): void };

  constructor(private readonly dir: string) {
    this.socket = join(dir, 'docker.sock');
    this.host = `unix://${this.socket}`;
    this.pidFile = join(dir, 'docker.pid');
    this.docker = new Dockerode({ socketPath: this.socket });
    this.bridge = harnessBridge(dir);
  }

  async start(): Promise<void> {
    try {
      await this.launch();
    } catch (err) {
      // Once seen: the new daemon timed out on its containerd. Kill whatever is left and try once more.
      console.error(`[faults] harness dockerd did not start (${String(err)}); cleaning up and retrying once`);
      this.proc?.kill('SIGKILL');
      await this.proc?.catch(() => undefined);
      this.proc = undefined;
      await this.stopContainerd('SIGKILL');
      await this.launch();
    }
  }

  private async launch(): Promise<void> {
    await this.stopLeftover();
    rmSync(this.pidFile, { force: true }); // a killed dockerd leaves it behind and the next refuses to start
    // A daemon's managed containerd can outlive it: the next daemon then waits on a dying containerd and gives up
    // after 60 s ("timeout waiting for containerd to start"). Make sure none is left.
    await this.stopContainerd('SIGTERM');
    await this.unmountStale();
    await this.createBridge();
    const args = [
      '--host',
      this.host,
      '--data-root',
      join(this.dir, 'data'),
      '--exec-root',
      join(this.dir, 'exec'),
      '--pidfile',
      this.pidFile,
      // Never `--bridge none` (see harnessBridge). The containers here use the host network, so the default bridge
      // is unused; each flag below turns off a default that would change the machine's network (rules, sysctls).
      '--bridge',
      this.bridge.name,
      '--iptables=false',
      '--ip6tables=false',
      '--ip-masq=false',
      '--ip-forward=false',
    ];
    const log = createWriteStream(join(this.dir, 'dockerd.log'), { flags: 'a' });
    const proc = execa('dockerd', args, { reject: false, stdin: 'ignore', all: true, buffer: false });
    proc.all?.pipe(log);
    this.proc = proc;
    const launched = Date.now();
    await until('the harness dockerd', 90_000, async () => {
      if (proc.exitCode !== null) return true; // reported below: a throw here would only mean "not yet"
      await this.docker.ping();
      return true;
    });
    if (proc.exitCode !== null) throw new Error(`dockerd exited with ${proc.exitCode} (see ${this.dir}/dockerd.log)`);
    this.startedAt = launched;
    this.follow();
  }

  /** Container filesystems a stopped daemon left mounted under our data root (else removing them fails, busy). */
  private async unmountStale(): Promise<void> {
    const root = `${join(this.dir, 'data')}/`;
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(root));
    for (const m of mounts.reverse()) await execa('umount', [m], { reject: false });
  }

  /** This daemon is the harness's alone: whatever an earlier, interrupted run left on it goes. */
  async removeAllContainers(): Promise<void> {
    for (const c of await this.docker.listContainers({ all: true }))
      await this.docker.getContainer(c.Id).remove({ force: true });
  }

  /** Graceful stop (what an operator's `systemctl restart docker` does): containers stop, the daemon exits. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p) {
      p.kill('SIGTERM'); // the event stream stays open while the daemon shuts down: what it does then is seen too
      const t = setTimeout(() => p.kill('SIGKILL'), 40_000);
      await p;
      clearTimeout(t);
      await this.stopContainerd('SIGTERM');
    }
    await this.deleteBridge();
    this.generation += 1;
    this.stream?.destroy();
  }

  private async createBridge(): Promise<void> {
    const { name } = this.bridge;
    if ((await execa('ip', ['link', 'show', 'dev', name], { reject: false })).exitCode === 0) return;
    await execa('ip', ['link', 'add', 'name', name, 'type', 'bridge']);
    // dockerd takes a named bridge's address as its network's (it refuses --bip with --bridge)
    await execa('ip', ['addr', 'add', this.bridge.bip, 'dev', name]);
  }

  /** After the daemon has exited (a restart creates the bridge again before the daemon starts). */
  private async deleteBridge(): Promise<void> {
    if (this.proc) return;
    await execa('ip', ['link', 'del', 'dev', this.bridge.name], { reject: false });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** The containerd our daemon started (its pid file under our exec root), stopped and waited for. */
  private async stopContainerd(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const pidFile = join(this.dir, 'exec', 'containerd', 'containerd.pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      rmSync(pidFile, { force: true });
      return;
    }
    if (!cmdline.startsWith('containerd') || !cmdline.includes(this.dir)) return;
    process.kill(pid, signal);
    const gone = () => Promise.resolve(!existsSync(`/proc/${pid}`));
    await until('the harness containerd to exit', 20_000, gone).catch(async () => {
      process.kill(pid, 'SIGKILL');
      await until('the harness containerd to die', 10_000, gone);
    });
    rmSync(pidFile, { force: true });
  }

  /** A dockerd on our socket left by an earlier harness run that died: ours by its command line, so stopped. */
  private async stopLeftover(): Promise<void> {
    if (!existsSync(this.pidFile)) return;
    const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return;
    }
    if (!cmdline.startsWith('dockerd') || !cmdline.includes(this.socket)) return;
    process.kill(pid, 'SIGTERM');
    await until('the leftover harness dockerd to exit', 40_000, () => Promise.resolve(!existsSync(`/proc/${pid}`)));
  }

  /** The demo images, copied from the machine's daemon unless this one has the same image ids already. */
  async loadImages(images: string[]): Promise<void> {
    const machine = new Dockerode({ socketPath: MACHINE_DOCKER.replace('unix://', '') });
    const missing: string[] = [];
    for (const ref of images) {
      const want = await machine
        .getImage(ref)
        .inspect()
        .then((i) => i.Id)
        .catch(() => {
          throw new Error(`image ${ref} is not on the machine's Docker engine: run 'npm run images' first`);
        });
      const have = await this.docker
        .getImage(ref)
        .inspect()
        .then((i) => i.Id)
        .catch(() => undefined);
      if (have !== want) missing.push(ref);
    }
    if (missing.length === 0) return;
    await execa('bash', [
      '-o',
      'pipefail',
      '-c',
      `docker -H ${MACHINE_DOCKER} save "$@" | docker -H ${this.host} load`,
      '--',
      ...missing,
    ]);
  }

  /**
   * Subscribes to container events; after a restart it subscribes again from the daemon's start (`since`), so an
   * event emitted before the new subscription was up is still seen; events already seen are skipped.
   */
  private follow(): void {
    const generation = ++this.generation;
    const since = Math.floor(this.startedAt / 1000) - 1;
    const subscribe = async (): Promise<void> => {
      while (generation === this.generation) {
        try {
          const stream = (await this.docker.getEvents({
            since,
            filters: { type: ['container'] },
          })) as NodeJS.ReadableStream & { destroy(): void };
          this.stream = stream;
          let rest = '';
          await new Promise<void>((resolve) => {
            stream.on('data', (chunk: Buffer) => {
              rest += chunk.toString();
              const lines = rest.split('\n');
              rest = lines.pop() ?? '';
              for (const l of lines.filter(Boolean)) {
                const e = JSON.parse(l) as {
                  Action: string;
                  timeNano: number;
                  Actor: { ID: string; Attributes: Record<string, string> };
                };
                const id = `${e.timeNano}/${e.Actor.ID}/${e.Action}`;
                if (this.seen.has(id)) continue;
                this.seen.add(id);
                this.events.push({
                  at: Math.floor(e.timeNano / 1e6),
                  action: e.Action,
                  id: e.Actor.ID,
                  attributes: e.Actor.Attributes,
                });
              }
            });
            stream.on('end', () => resolve());
            stream.on('error', () => resolve());
            stream.on('close', () => resolve());
          });
        } catch {
          // the daemon is restarting
        }
        if (generation === this.generation) await sleep(200);
      }
    };
    void subscribe();
  }
}

// ---------------------------------------------------------------- workers

const STANDBY_ENTRY = join(fileURLToPath(new URL('.', import.meta.url)), 'worker.ts');

export interface PoolEnv {
  address: string;
  taskQueue: string;
  extra: Record<string, string>;
}

interface Member {
  w: WorkerProcess;
  identity: string;
  warm: Promise<void>;
}

/**
 * One active (polling) worker and one warm standby (connected, bundle loaded, not polling). `killActive` SIGKILLs
 * the active one and lets the standby poll at once, then warms a new standby in the background.
 */
export class WorkerPool {
  private seq = 0;
  private active?: Member;
  private standby?: Member;
  /** Every worker process ever started, for the final cleanup. */
  private readonly all: WorkerProcess[] = [];
  kills = 0;
  /** Active workers that exited without being killed by the harness. */
  deaths = 0;

  constructor(private readonly env: PoolEnv) {}

  private spawn(): Member {
    this.seq += 1;
    const identity = `faults-worker-${this.seq}`;
    const w = spawnWorker(
      { address: this.env.address, taskQueue: this.env.taskQueue, extra: this.env.extra, script: STANDBY_ENTRY },
      ['--identity', identity],
    );
    this.all.push(w);
    const warm = new Promise<void>((resolve, reject) => {
      const check = () => {
        if (w.output().includes('standby ready')) resolve();
      };
      w.proc.all?.on('data', check);
      void w.proc.then((r) =>
        reject(new Error(`worker ${identity} exited (${r.exitCode ?? r.signal}) before it was warm:\n${w.output()}`)),
      );
    });
    warm.catch(() => undefined);
    return { w, identity, warm };
  }

  private activate(m: Member): void {
    m.w.proc.stdin?.write('go\n');
    this.active = m;
    // A polling worker that dies on its own (not killed here) is replaced by the standby at once, as in production.
    void m.w.proc.then(() => {
      if (this.active !== m) return;
      this.deaths += 1;
      this.active = undefined;
      if (this.standby) {
        this.activate(this.standby);
        this.standby = undefined;
      }
      this.standby = this.spawn();
    });
  }

  /** One worker polling and a warm standby behind it. */
  async ready(): Promise<void> {
    if (this.active && this.active.w.proc.exitCode !== null) this.active = undefined;
    if (this.standby && this.standby.w.proc.exitCode !== null) this.standby = undefined;
    if (!this.active) {
      const m = this.standby ?? this.spawn();
      this.standby = undefined;
      await m.warm;
      this.activate(m);
      await m.w.ready;
    }
    this.standby ??= this.spawn();
    await this.standby.warm;
  }

  activeIdentity(): string | undefined {
    return this.active?.identity;
  }

  /** SIGKILL the polling worker; the standby polls from now on. Returns the killed worker's identity. */
  killActive(): string | undefined {
    const victim = this.active;
    victim?.w.proc.kill('SIGKILL');
    this.active = undefined;
    this.kills += 1;
    if (this.standby) {
      this.activate(this.standby);
      this.standby = undefined;
    }
    this.standby = this.spawn();
    return victim?.identity;
  }

  /** Output of the workers (for a failed cell's report). */
  tail(chars = 3000): string {
    return [this.active, this.standby]
      .filter((m): m is Member => m !== undefined)
      .map((m) => `--- ${m.identity}\n${m.w.output().slice(-chars)}`)
      .join('\n');
  }

  async stop(): Promise<void> {
    this.active = undefined; // not a death: no replacement
    this.standby = undefined;
    for (const w of this.all) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
    await Promise.all(this.all.map((w) => w.proc.catch(() => undefined)));
  }
}

export function harnessDir(): string {
  const dir = process.env.CORTEX_FAULTS_DIR ?? '/tmp/cortex-faults';
  mkdirSync(dir, { recursive: true });
  return dir;
}
