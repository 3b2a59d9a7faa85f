// Owns every side effect of an environment-file rollback on the host where the service runs: reading and
// validating env files, backing up and atomically replacing them, recreating a Docker container with the env of a
// file, reading the env a running process or container really has, and the runbook's connection test (does the
// service reach Qdrant with the URL and key it was given).
// Invariants:
//  - secret values never leave this module: arguments are paths and names; results and failure messages carry key
//    names, line numbers and sha256 digests (of each value and of the whole file), never a value or a line;
//  - a file is only ever replaced by rename of a fsynced temporary file in the same directory that already has the
//    replaced file's mode and owner (readers see the old bytes or the new, never a mix; a crash leaves at most a
//    stray `.<name>.<tag>.tmp`);
//  - every activity is idempotent: a backup that exists with the expected digest is not rewritten, an install whose
//    target already has the wanted digest does nothing, a recreated container is found by its run-id label.
import type Dockerode from 'dockerode';
import { createHash } from 'node:crypto';
import { lstat, open, readdir, readFile, rename, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { FailureType } from '../common/failures.ts';
import { createDockerActivities, runSpecOf } from './docker.ts';
import { dockerFailure, isStatus, permanent, retryable } from './failures.ts';
import { sleep, withHeartbeat } from './heartbeat.ts';

export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ENV_FILE_BYTES = 1024 * 1024;

export interface EnvKeyDigest {
  key: string;
  /** sha256 (hex) of the value as the file states it (Docker's --env-file reading: everything after the first '='). */
  sha256: string;
  line?: number;
  empty?: boolean;
  /** sha256 of the value as systemd's EnvironmentFile= reads it, when that differs (quotes, surrounding blanks). */
  unitSha256?: string;
  /** systemd's reading of this value is not modelled here (escapes, inner quotes): not compared for a unit. */
  unitUnclear?: boolean;
}

export interface EnvProblem {
  line?: number;
  problem: string;
}

export interface EnvFileInfo {
  path: string;
  sha256: string;
  size: number;
  /** Permission bits, octal (e.g. '0640'). */
  mode: string;
  uid: number;
  gid: number;
  mtimeMs: number;
  keys: EnvKeyDigest[];
  problems: EnvProblem[];
}

export interface ConnectionCheck {
  ok: boolean;
  /** Where the request was made from: inside the container (its env and network) or on the service's host. */
  via: string;
  /** What was asked, without the URL (it may carry credentials): `GET $QDRANT_URL/collections`. */
  request: string;
  httpStatus?: number;
  error?: string;
  attempts: number;
  elapsedMs: number;
}

export interface ContainerEnv {
  id: string;
  name: string;
  image: string;
  imageId: string;
  running: boolean;
  state: string;
  restartPolicy: { Name: string; MaximumRetryCount?: number };
  env: EnvKeyDigest[];
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

interface ParsedEnv {
  entries: Array<{ key: string; value: string; line: number }>;
  problems: EnvProblem[];
}

/**
 * Reads env-file text as Docker's --env-file and systemd's EnvironmentFile= both accept it: blank lines and `#`
 * comments are skipped, every other line is KEY=VALUE with KEY matching [A-Za-z_][A-Za-z0-9_]*. Problems name the
 * line and the kind of problem (and the key when it is a valid name), never the line's text.
 */
export function parseEnvText(text: string, requiredKeys: readonly string[] = []): ParsedEnv {
  const entries: ParsedEnv['entries'] = [];
  const problems: EnvProblem[] = [];
  const firstLine = new Map<string, number>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.includes('\0')) return problems.push({ line, problem: 'contains a NUL byte' });
    if (raw.endsWith('\r')) return problems.push({ line, problem: 'ends with a carriage return (CRLF line ending)' });
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    const eq = raw.indexOf('=');
    if (eq === -1) return problems.push({ line, problem: "is not KEY=VALUE (no '=')" });
    const key = raw.slice(0, eq);
    if (!ENV_KEY.test(key)) {
      return problems.push({
        line,
        problem: `has an invalid key name (KEY must match [A-Za-z_][A-Za-z0-9_]*, no spaces or 'export')`,
      });
    }
    const first = firstLine.get(key);
    if (first !== undefined) return problems.push({ line, problem: `duplicate key ${key} (first on line ${first})` });
    firstLine.set(key, line);
    entries.push({ key, value: raw.slice(eq + 1), line });
  });
  for (const key of requiredKeys) {
    const e = entries.find((x) => x.key === key);
    if (!e) problems.push({ problem: `required key ${key} is missing` });
    else if (e.value.trim() === '') problems.push({ line: e.line, problem: `required key ${key} is empty` });
  }
  return { entries, problems };
}

/** One line per problem, for messages: "line 3: duplicate key QDRANT_URL (first on line 1)". */
export function describeProblems(problems: readonly EnvProblem[]): string {
  return problems.map((p) => (p.line ? `line ${p.line}: ${p.problem}` : p.problem)).join('; ');
}

/** The value as systemd's EnvironmentFile= reads it, for the common cases: one pair of enclosing quotes removed. */
export function systemdValue(value: string): string | undefined {
  const v = value.trim();
  const q = v[0];
  if ((q === '"' || q === "'") && v.length >= 2 && v.endsWith(q)) {
    const inner = v.slice(1, -1);
    return inner.includes('\\') || inner.includes(q) ? undefined : inner;
  }
  return v.includes('\\') || v.includes('"') || v.includes("'") ? undefined : v;
}

export function fileFailure(err: unknown, what: string) {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return permanent(FailureType.NotFound, `${what}: does not exist`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EISDIR' || code === 'EROFS' || code === 'ELOOP') {
    return permanent(FailureType.Conflict, `${what}: ${code}`);
  }
  return retryable(FailureType.Unavailable, `${what}: ${code ?? 'I/O error'}`, err);
}

interface LoadedFile {
  data: Buffer;
  info: EnvFileInfo;
  parsed: ParsedEnv;
}

export async function loadEnvFile(path: string, requiredKeys: readonly string[] = []): Promise<LoadedFile> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    throw fileFailure(err, `env file ${path}`);
  }
  if (!st.isFile()) throw permanent(FailureType.Conflict, `env file ${path} is not a regular file`);
  if (st.size > MAX_ENV_FILE_BYTES) {
    throw permanent(FailureType.InvalidInput, `env file ${path} is ${st.size} bytes, more than an env file (1 MiB)`);
  }
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw fileFailure(err, `read ${path}`);
  }
  const parsed = parseEnvText(data.toString('utf8'), requiredKeys);
  return {
    data,
    parsed,
    info: {
      path,
      sha256: sha256(data),
      size: data.length,
      mode: `0${(st.mode & 0o7777).toString(8)}`,
      uid: st.uid,
      gid: st.gid,
      mtimeMs: st.mtimeMs,
      keys: parsed.entries.map((e) => ({
        key: e.key,
        sha256: sha256(e.value),
        line: e.line,
        ...(e.value === '' ? { empty: true } : {}),
        ...unitReading(e.value),
      })),
      problems: parsed.problems,
    },
  };
}

export async function fileDigest(path: string): Promise<string | undefined> {
  try {
    return sha256(await readFile(path));
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw fileFailure(err, `read ${path}`);
  }
}

/**
 * Writes `data` to `path` atomically: a temporary file in the same directory, created 0600, given the owner and mode
 * of `like` (and its times when `keepTimes`), fsynced, renamed over `path`, then the directory fsynced.
 */
export async function atomicWrite(
  path: string,
  data: Buffer,
  like: { mode: number; uid: number; gid: number; atimeMs?: number; mtimeMs?: number },
  tag: string,
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${tag}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'w', 0o600);
    if (process.getuid?.() === 0 || like.uid !== process.getuid?.()) await fh.chown(like.uid, like.gid);
    await fh.chmod(like.mode & 0o7777);
    await fh.writeFile(data);
    if (like.atimeMs !== undefined && like.mtimeMs !== undefined) {
      await fh.utimes(like.atimeMs / 1000, like.mtimeMs / 1000);
    }
    await fh.sync();
  } catch (err) {
    throw fileFailure(err, `write ${tmp}`);
  } finally {
    await fh?.close();
  }
  try {
    await rename(tmp, path);
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch (err) {
    throw fileFailure(err, `rename ${tmp} to ${path}`);
  }
}

const CONNECTION_REQUEST = 'GET $QDRANT_URL/collections (api-key: $QDRANT_API_KEY when set)';

/**
 * The connection test, as a script run by the service's own `node` inside its container: it reads QDRANT_URL and
 * QDRANT_API_KEY from the process env and prints one JSON line with the HTTP status or an error code — never the
 * URL, the key or an error message (they may quote the URL).
 */
const IN_CONTAINER_SCRIPT = `
const u = process.env.QDRANT_URL, k = process.env.QDRANT_API_KEY;
const out = (o) => console.log(JSON.stringify(o));
let url;
try { url = u ? new URL(u.replace(/\\/+$/, '') + '/collections') : undefined; } catch { url = null; }
if (url === undefined) out({ error: 'QDRANT_URL is not set' });
else if (url === null) out({ error: 'QDRANT_URL is not a URL' });
else fetch(url, { headers: k ? { 'api-key': k } : {}, signal: AbortSignal.timeout(5000) }).then(
  async (r) => { await r.arrayBuffer(); out({ httpStatus: r.status }); },
  (e) => out({ error: (e && e.cause && e.cause.code) || (e && e.name) || 'error' }),
);
`;

async function qdrantRequest(
  qdrantUrl: string | undefined,
  apiKey: string | undefined,
): Promise<{ httpStatus?: number; error?: string }> {
  if (qdrantUrl === undefined || qdrantUrl === '') return { error: 'QDRANT_URL is not set' };
  let url: URL;
  try {
    url = new URL(`${qdrantUrl.replace(/\/+$/, '')}/collections`);
  } catch {
    return { error: 'QDRANT_URL is not a URL' };
  }
  try {
    const res = await fetch(url, {
      headers: apiKey ? { 'api-key': apiKey } : {},
      signal: AbortSignal.timeout(5000),
    });
    await res.arrayBuffer();
    return { httpStatus: res.status };
  } catch (err) {
    const e = err as { cause?: { code?: string }; name?: string };
    return { error: e.cause?.code ?? e.name ?? 'error' };
  }
}

/** Repeats `attempt` until a 2xx, a 4xx (no retry fixes a refused key) or `timeoutSeconds`. */
async function untilConnected(
  via: string,
  timeoutSeconds: number,
  attempt: () => Promise<{ httpStatus?: number; error?: string }>,
): Promise<ConnectionCheck> {
  const started = Date.now();
  let attempts = 0;
  return withHeartbeat(async () => {
    for (;;) {
      attempts += 1;
      const r = await attempt();
      const ok = r.httpStatus !== undefined && r.httpStatus >= 200 && r.httpStatus < 300;
      const final = ok || (r.httpStatus !== undefined && r.httpStatus >= 400 && r.httpStatus < 500);
      const elapsedMs = Date.now() - started;
      if (final || elapsedMs + 500 > timeoutSeconds * 1000) {
        return { ok, via, request: CONNECTION_REQUEST, ...r, attempts, elapsedMs };
      }
      await sleep(500);
    }
  });
}

/** File, process and host-network activities: what a host worker serves (no Docker needed). */
export function createEnvFileActivities() {
  return {
    /** Reads an env file: digest, owner, mode, key names with value digests, and every problem by line. */
    async inspectEnvFile({ path, requiredKeys = [] }: { path: string; requiredKeys?: string[] }): Promise<EnvFileInfo> {
      return (await loadEnvFile(path, requiredKeys)).info;
    },

    /** Read-only, for dry-run plans: the backups earlier rollbacks made of `path` (`<path>.backup-*`), oldest first. */
    async listEnvFileBackups({
      path,
    }: {
      path: string;
    }): Promise<Array<{ path: string; sizeBytes: number; mtime: string }>> {
      const dir = dirname(path);
      const prefix = `${basename(path)}.backup-`;
      const names = await readdir(dir).catch((err: unknown) => {
        if ((err as { code?: string }).code === 'ENOENT') return [] as string[];
        throw fileFailure(err, `list ${dir}`);
      });
      const out: Array<{ path: string; sizeBytes: number; mtime: string }> = [];
      for (const n of names.filter((x) => x.startsWith(prefix))) {
        const st = await lstat(join(dir, n)).catch(() => undefined);
        if (st?.isFile()) out.push({ path: join(dir, n), sizeBytes: st.size, mtime: st.mtime.toISOString() });
      }
      return out.sort((a, b) => a.mtime.localeCompare(b.mtime));
    },

    /**
     * Copies `path` to `backupPath` keeping mode, owner and times. The source must still be what was assessed
     * (`expectedSha256`); a backup already there with that digest is this run's own (idempotent).
     */
    async backupEnvFile(a: {
      path: string;
      backupPath: string;
      expectedSha256: string;
    }): Promise<{ backupPath: string; sha256: string; created: boolean }> {
      const existing = await fileDigest(a.backupPath);
      if (existing === a.expectedSha256) return { backupPath: a.backupPath, sha256: existing, created: false };
      if (existing !== undefined) {
        throw permanent(FailureType.Conflict, `${a.backupPath} exists and is not a copy of ${a.path}`);
      }
      let st;
      try {
        st = await lstat(a.path);
      } catch (err) {
        throw fileFailure(err, `env file ${a.path}`);
      }
      const data = await readFile(a.path).catch((err: unknown) => {
        throw fileFailure(err, `read ${a.path}`);
      });
      if (sha256(data) !== a.expectedSha256) {
        throw permanent(FailureType.Conflict, `${a.path} changed since it was assessed; nothing was changed`);
      }
      await atomicWrite(a.backupPath, data, st, 'backup');
      return { backupPath: a.backupPath, sha256: a.expectedSha256, created: true };
    },

    /**
     * Atomically replaces `path` with the bytes of `sourcePath`, keeping `path`'s mode and owner. The source must
     * have `sourceSha256` (what was validated, or the backup); with `expectCurrentSha256`, `path` must still hold
     * it (nobody changed it meanwhile). Already holding the source's bytes is success (`replaced: false`). An undo
     * passes `onlyIfCurrentSha256` so that a file the rollback never replaced (its replace was refused) is left alone.
     */
    async installEnvFile(a: {
      path: string;
      sourcePath: string;
      sourceSha256: string;
      expectCurrentSha256?: string;
      /** An undo: act only when `path` holds this (what the rollback installed); anything else is not ours. */
      onlyIfCurrentSha256?: string;
      tag: string;
    }): Promise<{ replaced: boolean; sha256: string; notOurs?: boolean }> {
      const source = await readFile(a.sourcePath).catch((err: unknown) => {
        throw fileFailure(err, `read ${a.sourcePath}`);
      });
      if (sha256(source) !== a.sourceSha256) {
        throw permanent(FailureType.Conflict, `${a.sourcePath} changed since it was checked`);
      }
      let st;
      try {
        st = await lstat(a.path);
      } catch (err) {
        throw fileFailure(err, `env file ${a.path}`);
      }
      const current = sha256(
        await readFile(a.path).catch((err: unknown) => {
          throw fileFailure(err, `read ${a.path}`);
        }),
      );
      if (current === a.sourceSha256) return { replaced: false, sha256: current };
      if (a.onlyIfCurrentSha256 && current !== a.onlyIfCurrentSha256) {
        return { replaced: false, sha256: current, notOurs: true };
      }
      if (a.expectCurrentSha256 && current !== a.expectCurrentSha256) {
        throw permanent(FailureType.Conflict, `${a.path} was changed by someone else during the rollback`);
      }
      await atomicWrite(a.path, source, { mode: st.mode, uid: st.uid, gid: st.gid }, a.tag);
      return { replaced: true, sha256: a.sourceSha256 };
    },

    /**
     * The connection test from the service's host, with QDRANT_URL and QDRANT_API_KEY as systemd reads them from
     * `envFile` (for a unit, which shares the host's network).
     */
    async hostConnectionTest({
      envFile,
      timeoutSeconds,
    }: {
      envFile: string;
      timeoutSeconds: number;
    }): Promise<ConnectionCheck> {
      const entries = (await loadEnvFile(envFile)).parsed.entries;
      const get = (k: string) => {
        const e = entries.find((x) => x.key === k);
        return e ? (systemdValue(e.value) ?? e.value) : undefined;
      };
      return untilConnected('the service host', timeoutSeconds, () =>
        qdrantRequest(get('QDRANT_URL'), get('QDRANT_API_KEY')),
      );
    },

    /** Digests of a running process's environment (/proc/<pid>/environ), e.g. a unit's main process. */
    async processEnv({ pid }: { pid: number }): Promise<EnvKeyDigest[]> {
      let data: Buffer;
      try {
        data = await readFile(`/proc/${pid}/environ`);
      } catch (err) {
        throw fileFailure(err, `read the environment of process ${pid}`);
      }
      return data
        .toString('utf8')
        .split('\0')
        .filter((e) => e !== '')
        .map((e) => {
          const eq = e.indexOf('=');
          return { key: eq === -1 ? e : e.slice(0, eq), sha256: sha256(eq === -1 ? '' : e.slice(eq + 1)) };
        });
    },
  };
}

/** The Docker side of an env-file rollback: container env digests, recreate with a file, the in-container test. */
export function createEnvFileDockerActivities({ docker }: { docker: Dockerode }) {
  const dockerActivities = createDockerActivities({ docker });

  async function inspectById(id: string, label: string): Promise<Dockerode.ContainerInspectInfo | undefined> {
    try {
      return await docker.getContainer(id).inspect();
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw dockerFailure(err, `inspect container '${label}'`);
    }
  }

  async function validFile(path: string, requiredKeys: readonly string[]): Promise<LoadedFile> {
    const f = await loadEnvFile(path, requiredKeys);
    if (f.parsed.problems.length > 0) {
      throw permanent(
        FailureType.InvalidInput,
        `env file ${path} is not valid: ${describeProblems(f.parsed.problems)}`,
        { problems: f.parsed.problems },
      );
    }
    return f;
  }

  return {
    /** A container's identity and the digests of its env (what `docker inspect` shows, values never returned). */
    async inspectContainerEnv({ name }: { name: string }): Promise<ContainerEnv> {
      const c = await inspectById(name, name);
      if (!c) throw permanent(FailureType.NotFound, `container '${name}' does not exist on this host`);
      return {
        id: c.Id,
        name: c.Name.replace(/^\//, ''),
        image: c.Config.Image,
        imageId: c.Image,
        running: c.State.Running,
        state: c.State.Status,
        restartPolicy: {
          Name: c.HostConfig.RestartPolicy?.Name ?? '',
          ...(c.HostConfig.RestartPolicy?.MaximumRetryCount
            ? { MaximumRetryCount: c.HostConfig.RestartPolicy.MaximumRetryCount }
            : {}),
        },
        env: (c.Config.Env ?? []).map((e) => {
          const eq = e.indexOf('=');
          return { key: eq === -1 ? e : e.slice(0, eq), sha256: sha256(eq === -1 ? '' : e.slice(eq + 1)) };
        }),
      };
    },

    /**
     * Runs the preserved container's image under `name` with its configuration (ports, mounts, networks, labels,
     * command, user) and the env of `envFile`: the operator env minus every key of `previousEnvFile` (it came from
     * that file), plus every entry of `envFile`; and the restart policy it had before it was preserved.
     */
    async recreateContainerWithEnvFile(a: {
      name: string;
      preservedName: string;
      expectedId: string;
      envFile: string;
      previousEnvFile: string;
      requiredKeys: string[];
      /** The policy the container had before it was preserved (preserving sets 'no'). */
      restartPolicy: { Name: string; MaximumRetryCount?: number };
      runId: string;
      workflowId: string;
    }): Promise<{ id: string; image: string; imageId: string; reused: boolean }> {
      return withHeartbeat(async () => {
        const old = await inspectById(a.expectedId, a.preservedName);
        if (!old) throw permanent(FailureType.NotFound, `preserved container '${a.preservedName}' is gone`);
        let image: Dockerode.ImageInspectInfo | undefined;
        try {
          image = await docker.getImage(old.Image).inspect();
        } catch (err) {
          if (!isStatus(err, 404)) throw dockerFailure(err, `inspect image of '${a.preservedName}'`);
        }
        const spec = runSpecOf(old, image);
        const next = (await validFile(a.envFile, a.requiredKeys)).parsed.entries;
        const previous = new Set((await loadEnvFile(a.previousEnvFile)).parsed.entries.map((e) => e.key));
        const replaced = new Set([...previous, ...next.map((e) => e.key)]);
        const env = [
          ...spec.env.filter((e) => !replaced.has(e.slice(0, Math.max(0, e.indexOf('='))))),
          ...next.map((e) => `${e.key}=${e.value}`),
        ];
        // The same image: by its reference when that still names it, else by id (the tag has moved since).
        let ref = old.Config.Image;
        try {
          if ((await docker.getImage(ref).inspect()).Id !== old.Image) ref = old.Image;
        } catch (err) {
          if (!isStatus(err, 404)) throw dockerFailure(err, `inspect image '${ref}'`);
          ref = old.Image;
        }
        const run = await dockerActivities.runContainer({
          name: a.name,
          image: ref,
          spec: { ...spec, env },
          runId: a.runId,
          workflowId: a.workflowId,
          rolledBackFrom: old.Config.Image,
        });
        const policy = a.restartPolicy.Name ? a.restartPolicy : { Name: 'no' };
        try {
          await docker.getContainer(run.id).update({ RestartPolicy: policy });
        } catch (err) {
          throw dockerFailure(err, `set the restart policy of '${a.name}'`);
        }
        return { id: run.id, image: ref, imageId: run.imageId, reused: run.reused };
      });
    },

    /**
     * The runbook's `npm run test:connection`, in the container: its own node, env and network ask Qdrant for the
     * collection list with the key it was given. Repeats until answered, refused (4xx) or `timeoutSeconds`.
     */
    async containerConnectionTest({
      name,
      timeoutSeconds,
    }: {
      name: string;
      timeoutSeconds: number;
    }): Promise<ConnectionCheck> {
      return untilConnected(`docker exec ${name} node`, timeoutSeconds, async () => {
        let exec: Dockerode.Exec;
        try {
          exec = await docker.getContainer(name).exec({
            Cmd: ['node', '-e', IN_CONTAINER_SCRIPT],
            AttachStdout: true,
            AttachStderr: true,
          });
        } catch (err) {
          if (isStatus(err, 409)) return { error: 'container is not running' };
          throw dockerFailure(err, `exec in '${name}'`);
        }
        // No connection upgrade (hijack): a plain streamed response passes any HTTP proxy in front of dockerd.
        const stream = await exec.start({ hijack: false, stdin: false });
        const stdout = new PassThrough();
        let text = '';
        stdout.on('data', (c: Buffer) => {
          if (text.length < 4096) text += c.toString();
        });
        docker.modem.demuxStream(stream, stdout, new PassThrough().resume());
        const ended = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 15_000);
          const done = () => {
            clearTimeout(timer);
            resolve(true);
          };
          stream.on('end', done);
          stream.on('close', done);
          stream.on('error', done);
        });
        if (!ended) {
          (stream as { destroy?: () => void }).destroy?.();
          return { error: 'the test in the container did not finish within 15 s' };
        }
        const line = text.trim().split('\n').at(-1) ?? '';
        try {
          const r = JSON.parse(line) as { httpStatus?: unknown; error?: unknown };
          if (typeof r.httpStatus === 'number') return { httpStatus: r.httpStatus };
          if (typeof r.error === 'string') return { error: r.error.slice(0, 100) };
        } catch {
          // no JSON: node missing or crashed; its output is not shown (it could quote the env)
        }
        const exit = (await exec.inspect()).ExitCode;
        return { error: `the test did not run in the container (exit ${exit ?? '?'})` };
      });
    },
  };
}

function unitReading(value: string): { unitSha256?: string; unitUnclear?: boolean } {
  const v = systemdValue(value);
  if (v === undefined) return { unitUnclear: true };
  return v === value ? {} : { unitSha256: sha256(v) };
}
