// Owns every Docker Compose side effect of the Docker network rollback (`docker compose` v2 as a CLI plugin, through
// the injected runner) and its verification from inside the containers.
// Invariants:
//  - a compose file is validated (`config -q`) and its sha256 recorded before anything changes; installing it
//    refuses a file whose content changed since (Conflict);
//  - the current file's bytes and its `docker compose config` are saved (atomically) before `down`; restoring puts
//    those bytes back by rename and brings the project up again;
//  - down / install / up are idempotent, so a retry after a worker crash has the effect of one run;
//  - verification never throws for what it finds: it reports each network's subnets, each service name as resolved
//    from inside each running container (`getent hosts`), and each health URL.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FailureType } from '../common/failures.ts';
import { PROJECT_ROOT } from '../common/tools.ts';
import { execaRunner, lastLine, type CommandResult, type CommandRunner } from './command.ts';
import { permanent, retryable } from './failures.ts';
import { probe, type HealthSample } from './health.ts';
import { sleep, withHeartbeat } from './heartbeat.ts';

export interface ComposeDeps {
  run?: CommandRunner;
  /** Where backups go on this host; default .data/backups/network under the project. */
  backupRoot?: string;
  /** The compose command: default `docker compose` (the v2 plugin); e.g. ['docker-compose'] where only that exists. */
  compose?: string[];
}

export interface ExpectedNetwork {
  /** The engine's network name (`<project>_<key>` unless the file names it). */
  name: string;
  subnets: string[];
}

export interface ComposeFileInfo {
  file: string;
  sha256: string;
  services: string[];
  networks: ExpectedNetwork[];
}

export interface ComposeContainer {
  id: string;
  name: string;
  service: string;
  state: string;
}

export interface ComposeState {
  containers: ComposeContainer[];
  /** The current file's config, when it still validates. */
  config?: ComposeFileInfo;
  configError?: string;
}

export interface ComposeBackup {
  /** The current compose file's bytes, restorable as they were. */
  filePath: string;
  sha256: string;
  /** `docker compose config` of the current file (the resolved project), for the record. */
  configPath?: string;
}

export interface ComposeCheck {
  ok: boolean;
  attempts: number;
  elapsedMs: number;
  networks: Array<{ name: string; expected: string[]; actual: string[]; ok: boolean }>;
  resolution: Array<{ container: string; service: string; ok: boolean; address?: string }>;
  health: Array<{ url: string; last: HealthSample }>;
  /** One line per failed check; `resolution` problems are what a down/up repairs. */
  problems: string[];
}

function sha256(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex');
}

interface ConfigJson {
  services?: Record<string, unknown>;
  networks?: Record<string, { name?: string; external?: boolean; ipam?: { config?: Array<{ subnet?: string }> } }>;
}

export function createComposeActivities(deps: ComposeDeps = {}) {
  const run = deps.run ?? execaRunner;
  const [bin, ...pre] = deps.compose ?? ['docker', 'compose'];
  const backupRoot = deps.backupRoot ?? join(PROJECT_ROOT, '.data', 'backups', 'network');

  async function compose(project: string, file: string | undefined, args: string[], timeout = 120_000) {
    const r = await run(bin!, [...pre, '-p', project, ...(file ? ['-f', file] : []), ...args], {
      timeout,
      cwd: file ? dirname(file) : PROJECT_ROOT,
    });
    if (r.errorCode === 'ENOENT') throw permanent(FailureType.NotFound, `${bin} is not installed on this host`);
    return r;
  }

  async function readFileOr(path: string, what: string): Promise<string> {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT') throw permanent(FailureType.NotFound, `${what} ${path} does not exist on this host`);
      if (code === 'EISDIR' || code === 'EACCES') throw permanent(FailureType.InvalidInput, `${what} ${path}: ${code}`);
      throw retryable(FailureType.Unavailable, `${what} ${path}: ${(err as Error).message}`, err);
    }
  }

  async function fileInfo(project: string, file: string, what: string): Promise<ComposeFileInfo> {
    const text = await readFileOr(file, what);
    const q = await compose(project, file, ['config', '-q']);
    if (q.exitCode !== 0) {
      throw permanent(FailureType.InvalidInput, `${what} ${file} does not validate: ${lastLine(q)}`);
    }
    const j = await compose(project, file, ['config', '--format', 'json']);
    if (j.exitCode !== 0) throw failed(j, `${bin} config ${file}`);
    const config = JSON.parse(j.stdout) as ConfigJson;
    const networks = Object.entries(config.networks ?? {})
      .filter(([, n]) => !n.external)
      .map(([key, n]) => ({
        name: n.name ?? `${project}_${key}`,
        subnets: (n.ipam?.config ?? []).map((c) => c.subnet).filter((s): s is string => typeof s === 'string'),
      }));
    return { file, sha256: sha256(text), services: Object.keys(config.services ?? {}).sort(), networks };
  }

  async function containers(project: string): Promise<ComposeContainer[]> {
    const r = await compose(project, undefined, ['ps', '-a', '--format', 'json']);
    if (r.exitCode !== 0) throw failed(r, `${bin} ps`);
    return r.stdout
      .split('\n')
      .filter((l) => l.trim().startsWith('{'))
      .map((l) => JSON.parse(l) as { ID: string; Name: string; Service: string; State: string })
      .map((c) => ({ id: c.ID, name: c.Name, service: c.Service, state: c.State }));
  }

  async function writeAtomic(path: string, text: string, mode?: number): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, text, mode ? { mode } : {});
    await rename(tmp, path);
  }

  async function down(project: string, file: string): Promise<void> {
    const r = await compose(project, file, ['down', '--remove-orphans']);
    if (r.exitCode !== 0) throw failed(r, `${bin} down (project ${project})`);
  }

  async function up(project: string, file: string): Promise<ComposeContainer[]> {
    const r = await compose(project, file, ['up', '-d', '--remove-orphans']);
    if (r.exitCode !== 0) throw failed(r, `${bin} up -d (project ${project})`);
    return containers(project);
  }

  return {
    /** Read-only: `config -q` must pass; the services and networks (with subnets) the file declares. */
    async composeCheckFile({ project, file }: { project: string; file: string }): Promise<ComposeFileInfo> {
      return fileInfo(project, file, 'compose file');
    },

    /** Read-only: the project's containers and the current file's config (if it validates). */
    async composeState({ project, file }: { project: string; file: string }): Promise<ComposeState> {
      const cs = await containers(project);
      try {
        return { containers: cs, config: await fileInfo(project, file, 'current compose file') };
      } catch (err) {
        return { containers: cs, configError: (err as Error).message };
      }
    },

    /** Saves the current file's bytes and its `docker compose config` under `<backupRoot>/<name>.*`. */
    async composeBackup({
      project,
      file,
      name,
    }: {
      project: string;
      file: string;
      name: string;
    }): Promise<ComposeBackup> {
      const text = await readFileOr(file, 'current compose file');
      const filePath = join(backupRoot, `${name}.compose.yml`);
      await writeAtomic(filePath, text, 0o600);
      const c = await compose(project, file, ['config']);
      let configPath: string | undefined;
      if (c.exitCode === 0) {
        configPath = join(backupRoot, `${name}.config.yml`);
        await writeAtomic(configPath, c.stdout, 0o600);
      }
      return { filePath, sha256: sha256(text), ...(configPath ? { configPath } : {}) };
    },

    async composeDown({ project, file }: { project: string; file: string }): Promise<{ down: true }> {
      await withHeartbeat(() => down(project, file));
      return { down: true };
    },

    /** Puts `from`'s bytes at `to` by rename (atomic); refuses a `from` that changed since it was checked. */
    async composeInstallFile({ from, to, sha256: expected }: { from: string; to: string; sha256: string }) {
      const text = await readFileOr(from, 'compose file');
      if (sha256(text) !== expected) {
        throw permanent(FailureType.Conflict, `${from} changed after it was checked and approved; not installed`);
      }
      await writeAtomic(to, text);
      return { installed: to, sha256: expected };
    },

    async composeUp({ project, file }: { project: string; file: string }): Promise<ComposeContainer[]> {
      return withHeartbeat(() => up(project, file));
    },

    /** Undo: down, the saved bytes back at `file`, up -d. */
    async composeRestore({
      project,
      file,
      backupPath,
      sha256: expected,
    }: {
      project: string;
      file: string;
      backupPath: string;
      sha256: string;
    }): Promise<{ restoredFrom: string; containers: ComposeContainer[] }> {
      return withHeartbeat(async () => {
        const text = await readFileOr(backupPath, 'backup');
        if (sha256(text) !== expected) {
          throw permanent(FailureType.Conflict, `backup ${backupPath} is not the one taken (sha256 differs)`);
        }
        await down(project, file).catch(() => undefined); // a half-applied file may not validate; up decides
        await writeAtomic(file, text);
        return { restoredFrom: backupPath, containers: await up(project, file) };
      });
    },

    /** Polls until networks, name resolution from inside every running container, and health all pass. */
    async composeVerify({
      project,
      networks,
      resolve,
      healthUrls,
      timeoutSeconds,
      resolutionGraceSeconds = 10,
    }: {
      project: string;
      networks: ExpectedNetwork[];
      resolve: string[];
      healthUrls: string[];
      timeoutSeconds: number;
      /** A name still unresolved after this long will not heal by waiting (a lost alias): report it now. */
      resolutionGraceSeconds?: number;
    }): Promise<ComposeCheck> {
      const started = Date.now();
      let attempts = 0;
      let unresolvedSince: number | undefined;
      return withHeartbeat(
        async () => {
          for (;;) {
            attempts += 1;
            const check = await verifyOnce(project, networks, resolve, healthUrls);
            const elapsedMs = Date.now() - started;
            const unresolved = check.resolution.some((r) => !r.ok);
            unresolvedSince = unresolved ? (unresolvedSince ?? Date.now()) : undefined;
            const stuck =
              unresolvedSince !== undefined && Date.now() - unresolvedSince >= resolutionGraceSeconds * 1000;
            if (check.ok || stuck || elapsedMs + 500 > timeoutSeconds * 1000) return { ...check, attempts, elapsedMs };
            await sleep(500);
          }
        },
        500,
        () => ({ attempts }),
      );
    },
  };

  async function verifyOnce(
    project: string,
    networks: ExpectedNetwork[],
    resolve: string[],
    healthUrls: string[],
  ): Promise<Omit<ComposeCheck, 'attempts' | 'elapsedMs'>> {
    const problems: string[] = [];
    const nets = await Promise.all(
      networks.map(async (n) => {
        const r = await run('docker', ['network', 'inspect', n.name, '--format', '{{json .IPAM.Config}}']);
        const actual =
          r.exitCode === 0
            ? ((JSON.parse(r.stdout || 'null') as Array<{ Subnet?: string }> | null) ?? [])
                .map((c) => c.Subnet ?? '')
                .filter(Boolean)
            : [];
        const ok = r.exitCode === 0 && n.subnets.every((s) => actual.includes(s));
        if (!ok) {
          problems.push(
            r.exitCode === 0
              ? `network ${n.name} has subnets ${actual.join(', ') || 'none'}, expected ${n.subnets.join(', ')}`
              : `network ${n.name} does not exist`,
          );
        }
        return { name: n.name, expected: n.subnets, actual, ok };
      }),
    );
    const running = (await containers(project)).filter((c) => c.state === 'running');
    if (running.length === 0) problems.push(`no container of project ${project} is running`);
    const resolution = (
      await Promise.all(
        running.flatMap((c) =>
          resolve.map(async (service) => {
            const r = await run('docker', ['exec', c.id, 'getent', 'hosts', service], { timeout: 10_000 });
            const address = r.exitCode === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
            if (!address) problems.push(`'${service}' does not resolve inside ${c.name}`);
            return { container: c.name, service, ok: address !== undefined, ...(address ? { address } : {}) };
          }),
        ),
      )
    ).flat();
    const health = await Promise.all(healthUrls.map(async (url) => ({ url, last: await probe(url, 2000) })));
    for (const h of health) {
      if (!h.last.ok) problems.push(`${h.url} is not healthy (${h.last.httpStatus ?? h.last.error ?? '?'})`);
    }
    return { ok: problems.length === 0, networks: nets, resolution, health, problems };
  }
}

function failed(r: CommandResult, what: string) {
  if (r.timedOut) return retryable(FailureType.Unavailable, `${what}: timed out`);
  if (/Cannot connect to the Docker daemon|connection refused/i.test(r.stderr)) {
    return retryable(FailureType.Unavailable, `${what}: ${lastLine(r)}`);
  }
  // compose reports conflicts (a subnet overlapping another network, a name in use) as exit 1: a retry repeats them
  return permanent(FailureType.Conflict, `${what} failed (exit ${r.exitCode ?? '?'}): ${lastLine(r)}`);
}
