// Owns the release layout of a service deployed from git on a host: `<root>/releases/<tag>` folders, a `current`
// symlink naming the live one, and `<root>/backups/` archives. Commands (git, tar, install/build) run through the
// injected runner of systemd.ts. Invariants:
//  - a shared checkout is never mutated: each tag is cloned into its own folder (via a temporary folder renamed
//    into place, so a half-cloned release never carries the final name);
//  - `current` only ever changes by rename(2) of a fresh symlink over it: readers see the old or the new release;
//  - every activity is idempotent (a retry after a crash finds its earlier effect and does not repeat it), and
//    nothing removes a release folder this run did not create (a marker in its .git names the creating run).
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FailureType } from '../common/failures.ts';
import { runSuffix } from '../common/names.ts';
import { isValidGitRemote, isValidReleaseRoot, isValidReleaseTag } from '../common/release-names.ts';
import { permanent, retryable } from './failures.ts';
import { withHeartbeat } from './heartbeat.ts';
import { execaRunner, type CommandOptions, type CommandResult, type CommandRunner } from './systemd.ts';

export interface ReleaseState {
  root: string;
  /** The `current` symlink's target exactly as stored (relative or absolute): what a restore writes back. */
  link: string;
  /** Absolute path `current` resolves to. */
  path: string;
  /** The release folder's name under releases/ (the tag), if `current` points into releases/. */
  version?: string;
  releases: string[];
}

export interface RemoteTag {
  remote: string;
  tag: string;
  /** The commit the tag points at (peeled for annotated tags). */
  commit: string;
}

export interface ReleaseBackup {
  link: string;
  version?: string;
  archive: string;
  bytes: number;
  reused: boolean;
}

export interface Checkout {
  dir: string;
  commit: string;
  /** This run made the folder (its marker names this run): the undo may remove it. */
  createdByRun: boolean;
  reused: boolean;
}

export interface CommandRun {
  command: string;
  ms: number;
}

export interface Swap {
  previous: string;
  current: string;
  changed: boolean;
  /** The release folder was missing and was restored from this archive first. */
  restoredFrom?: string;
}

const MARKER = 'cortex-rollback-run';
const LOCK_WAIT_S = 600;
const GIT_ENV = { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C' };

function tail(s: string, n = 1500): string {
  const t = s.trim();
  return t.length > n ? `…${t.slice(-n)}` : t;
}

function checkRoot(root: string): string {
  if (!isValidReleaseRoot(root)) {
    throw permanent(FailureType.InvalidInput, `release root '${root}' must be an absolute path without '..'`);
  }
  return resolve(root);
}

function checkTag(tag: string): string {
  if (!isValidReleaseTag(tag)) {
    throw permanent(FailureType.InvalidInput, `'${tag}' is not a release tag (letters, digits, '.', '_', '+', '-')`);
  }
  return tag;
}

async function readLink(path: string): Promise<string | undefined> {
  try {
    return await readlink(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EINVAL') throw permanent(FailureType.Conflict, `${path} exists but is not a symlink`);
    throw err;
  }
}

export function createReleaseActivities({ run = execaRunner }: { run?: CommandRunner } = {}) {
  /**
   * `file args` holding an flock on `lock`: whatever an orphan of a killed worker still runs under the same lock
   * (a clone, an archive, a build) finishes before this attempt starts over.
   */
  async function locked(lock: string, file: string, args: string[], options: CommandOptions): Promise<CommandResult> {
    const r = await run('flock', ['-w', String(LOCK_WAIT_S), '-E', '75', lock, file, ...args], {
      ...options,
      timeout: (options.timeout ?? 0) + LOCK_WAIT_S * 1000,
    });
    if (r.exitCode === 75) {
      throw retryable(FailureType.Unavailable, `${lock} is held by another process for more than ${LOCK_WAIT_S}s`);
    }
    return r;
  }

  async function git(args: string[], what: string, o: { cwd?: string; timeoutMs?: number; lock?: string } = {}) {
    // never the worker's own directory as cwd: it may be a checkout itself
    const options = { env: GIT_ENV, timeout: o.timeoutMs ?? 120_000, cwd: o.cwd ?? '/' };
    const r = o.lock ? await locked(o.lock, 'git', args, options) : await run('git', args, options);
    if (r.errorCode === 'ENOENT') throw permanent(FailureType.Unavailable, `${what}: git is not installed here`);
    return r;
  }

  async function headCommit(dir: string): Promise<string | undefined> {
    const r = await git(['rev-parse', 'HEAD'], `read the commit of ${dir}`, { cwd: dir });
    return r.failed ? undefined : r.stdout.trim();
  }

  async function marker(dir: string): Promise<string | undefined> {
    try {
      return (await readFile(join(dir, '.git', MARKER), 'utf8')).trim();
    } catch {
      return undefined;
    }
  }

  async function state(rootIn: string): Promise<ReleaseState> {
    const root = checkRoot(rootIn);
    const current = join(root, 'current');
    const link = await readLink(current);
    if (link === undefined) throw permanent(FailureType.NotFound, `no current release: ${current} does not exist`);
    const path = resolve(root, link);
    const releasesDir = join(root, 'releases');
    const releases = existsSync(releasesDir)
      ? (await readdir(releasesDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name)
      : [];
    const version = dirname(path) === releasesDir ? basename(path) : undefined;
    return { root, link, path, ...(version ? { version } : {}), releases: releases.sort() };
  }

  return {
    /** Where `current` points and which releases exist. */
    async releaseState({ root }: { root: string }): Promise<ReleaseState> {
      return state(root);
    },

    /** Read-only, for dry-run plans: the archives in `<root>/backups/` (oldest first). */
    async listReleaseBackups({
      root,
    }: {
      root: string;
    }): Promise<Array<{ path: string; sizeBytes: number; mtime: string }>> {
      const dir = join(checkRoot(root), 'backups');
      const names = existsSync(dir) ? await readdir(dir) : [];
      const out: Array<{ path: string; sizeBytes: number; mtime: string }> = [];
      for (const n of names.filter((x) => x.endsWith('.tar.gz'))) {
        const st = await stat(join(dir, n)).catch(() => undefined);
        if (st?.isFile()) out.push({ path: join(dir, n), sizeBytes: st.size, mtime: st.mtime.toISOString() });
      }
      return out.sort((a, b) => a.mtime.localeCompare(b.mtime));
    },

    /** The commit `tag` names in the git remote; an unknown tag is a permanent NotFound. */
    async releaseRemoteTag({ remote, tag }: { remote: string; tag: string }): Promise<RemoteTag> {
      checkTag(tag);
      if (!isValidGitRemote(remote))
        throw permanent(FailureType.InvalidInput, `git remote '${remote}' is not a remote`);
      const ref = `refs/tags/${tag}`;
      const r = await git(['ls-remote', '--exit-code', remote, ref, `${ref}^{}`], `git ls-remote ${remote}`);
      if (r.exitCode === 2) throw permanent(FailureType.NotFound, `tag ${tag} does not exist in ${remote}`);
      if (r.failed) {
        const msg = `git ls-remote ${remote}: ${tail(r.stderr, 400)}`;
        if (/does not appear to be a git repository|not found|No such file/i.test(r.stderr)) {
          throw permanent(FailureType.NotFound, msg);
        }
        throw retryable(FailureType.Unavailable, msg);
      }
      const lines = r.stdout.split('\n').map((l) => l.split('\t'));
      const peeled = lines.find((l) => l[1] === `${ref}^{}`)?.[0];
      const plain = lines.find((l) => l[1] === ref)?.[0];
      const commit = peeled ?? plain;
      if (!commit) throw permanent(FailureType.NotFound, `tag ${tag} does not exist in ${remote}`);
      return { remote, tag, commit };
    },

    /**
     * Archives the release `current` points at to `<root>/backups/<version>-<run>.tar.gz` (the runbook's
     * "backup current installation"); an archive from an earlier attempt of this run is reused.
     */
    async releaseBackup({ root: rootIn, runId }: { root: string; runId: string }): Promise<ReleaseBackup> {
      const s = await state(rootIn);
      const dir = join(s.root, 'backups');
      const archive = join(dir, `${s.version ?? basename(s.path)}-${runSuffix(runId)}.tar.gz`);
      if (existsSync(archive)) {
        return { link: s.link, ...opt(s.version), archive, bytes: (await stat(archive)).size, reused: true };
      }
      await mkdir(dir, { recursive: true });
      const tmp = `${archive}.tmp`;
      const r = await withHeartbeat(() =>
        locked(`${archive}.lock`, 'tar', ['-czf', tmp, '-C', dirname(s.path), basename(s.path)], {
          timeout: 30 * 60_000,
        }),
      );
      if (r.failed) {
        await rm(tmp, { force: true });
        throw retryable(FailureType.Unavailable, `archive ${s.path}: ${tail(r.stderr, 400)}`);
      }
      await rename(tmp, archive);
      return { link: s.link, ...opt(s.version), archive, bytes: (await stat(archive)).size, reused: false };
    },

    /**
     * Clones `tag` from `remote` into `<root>/releases/<tag>` (through `<tag>.tmp-<run>`, renamed into place).
     * A folder already there at the same commit is reused; at another commit it is a Conflict.
     */
    async releaseCheckout(a: {
      root: string;
      remote: string;
      tag: string;
      commit: string;
      runId: string;
    }): Promise<Checkout> {
      const root = checkRoot(a.root);
      const tag = checkTag(a.tag);
      if (!isValidGitRemote(a.remote)) throw permanent(FailureType.InvalidInput, `'${a.remote}' is not a git remote`);
      const releases = join(root, 'releases');
      const dir = join(releases, tag);
      if (existsSync(dir)) {
        const head = await headCommit(dir);
        if (head !== a.commit) {
          throw permanent(
            FailureType.Conflict,
            `${dir} exists at ${head ? `commit ${head.slice(0, 12)}` : 'no git commit'}, not ${tag} = ${a.commit.slice(0, 12)}; move it aside`,
          );
        }
        return { dir, commit: head, createdByRun: (await marker(dir)) === a.runId, reused: true };
      }
      await mkdir(releases, { recursive: true });
      const tmp = `${dir}.tmp-${runSuffix(a.runId)}`;
      const lock = join(releases, `.${tag}.lock`);
      // a clone cut short by a crash: wait until it is no longer running (its lock is free), then start over
      await withHeartbeat(() => locked(lock, 'true', [], { timeout: 10_000 }));
      await rm(tmp, { recursive: true, force: true });
      const r = await withHeartbeat(() =>
        git(
          ['-c', 'advice.detachedHead=false', 'clone', '--quiet', '--depth', '1', '--branch', tag, '--', a.remote, tmp],
          `git clone ${tag}`,
          { timeoutMs: 30 * 60_000, lock },
        ),
      );
      if (r.failed) {
        await rm(tmp, { recursive: true, force: true });
        throw retryable(FailureType.Unavailable, `git clone --branch ${tag} ${a.remote}: ${tail(r.stderr, 400)}`);
      }
      const head = await headCommit(tmp);
      if (head !== a.commit) {
        await rm(tmp, { recursive: true, force: true });
        throw permanent(FailureType.Conflict, `tag ${tag} moved during the rollback (${a.commit} → ${head})`);
      }
      await writeFile(join(tmp, '.git', MARKER), `${a.runId}\n`);
      await rename(tmp, dir);
      return { dir, commit: head, createdByRun: true, reused: false };
    },

    /**
     * Runs the install/build commands in a release folder, one after another (`sh -c`, so they read as typed),
     * each under `timeout` so a command that overruns is stopped with everything it started, and under a lock on
     * the folder so a retry never builds alongside the orphaned build of a killed worker.
     * A command that fails or times out is a permanent CommandFailed carrying its output's tail.
     */
    async releaseBuild(a: {
      root: string;
      tag: string;
      commands: string[];
      timeoutSeconds: number;
    }): Promise<CommandRun[]> {
      const dir = join(checkRoot(a.root), 'releases', checkTag(a.tag));
      if (!existsSync(dir)) throw permanent(FailureType.NotFound, `${dir} does not exist`);
      const lockFile = join(dir, existsSync(join(dir, '.git')) ? '.git' : '', 'cortex-rollback-build.lock');
      const done: CommandRun[] = [];
      return withHeartbeat(
        async () => {
          for (const command of a.commands) {
            const started = Date.now();
            // flock: a build left running by a killed worker finishes before this attempt's starts in the same
            // folder; coreutils timeout signals the command's whole process group (npm's children too), exit 124.
            const r = await run(
              'flock',
              [
                '-w',
                String(LOCK_WAIT_S),
                '-E',
                '75',
                lockFile,
                'timeout',
                '-k',
                '5',
                String(a.timeoutSeconds),
                'sh',
                '-c',
                command,
              ],
              { cwd: dir, timeout: (LOCK_WAIT_S + a.timeoutSeconds + 30) * 1000 },
            );
            if (r.exitCode === 75) {
              throw retryable(
                FailureType.Unavailable,
                `${dir} is locked by another build for more than ${LOCK_WAIT_S}s`,
              );
            }
            if (r.failed) {
              const timedOut = r.timedOut || r.exitCode === 124 || r.exitCode === 137;
              const why = timedOut ? `timed out after ${a.timeoutSeconds}s` : `exited ${r.exitCode ?? r.errorCode}`;
              throw permanent(
                FailureType.CommandFailed,
                `'${command}' in ${dir} ${why}: ${tail(`${r.stdout}\n${r.stderr}`, 600)}`,
              );
            }
            done.push({ command, ms: Date.now() - started });
          }
          return done;
        },
        1000,
        () => ({ done: done.length }),
      );
    },

    /**
     * Points `current` at `to` (a link target as releaseState reports it) by renaming a fresh symlink over it.
     * Already pointing there: nothing to do. When the target folder is gone and `archive` is given, the
     * archive is unpacked first (restoring a backup).
     */
    async releaseSwitch(a: { root: string; to: string; runId: string; archive?: string }): Promise<Swap> {
      const root = checkRoot(a.root);
      const current = join(root, 'current');
      const previous = (await readLink(current)) ?? '';
      if (previous === a.to) return { previous, current: a.to, changed: false };
      const target = resolve(root, a.to);
      let restoredFrom: string | undefined;
      if (!existsSync(target)) {
        if (!a.archive || !existsSync(a.archive)) {
          throw permanent(FailureType.NotFound, `cannot point current at ${target}: it does not exist`);
        }
        const r = await withHeartbeat(() =>
          run('tar', ['-xzf', a.archive!, '-C', dirname(target)], { timeout: 30 * 60_000 }),
        );
        if (r.failed || !existsSync(target)) {
          throw retryable(FailureType.Unavailable, `restore ${target} from ${a.archive}: ${tail(r.stderr, 400)}`);
        }
        restoredFrom = a.archive;
      }
      const tmp = join(root, `current.tmp-${runSuffix(a.runId)}`);
      await rm(tmp, { force: true });
      await symlink(a.to, tmp);
      await rename(tmp, current);
      return { previous, current: a.to, changed: true, ...(restoredFrom ? { restoredFrom } : {}) };
    },

    /** Removes a release folder this run created (the undo of releaseCheckout), never the live one. */
    async releaseRemove(a: { root: string; tag: string; runId: string }): Promise<{ removed: boolean; why?: string }> {
      const root = checkRoot(a.root);
      const dir = join(root, 'releases', checkTag(a.tag));
      await rm(`${dir}.tmp-${runSuffix(a.runId)}`, { recursive: true, force: true });
      if (!existsSync(dir)) return { removed: false, why: 'not there' };
      const live = await readLink(join(root, 'current'));
      if (live !== undefined && resolve(root, live) === dir)
        return { removed: false, why: 'it is the current release' };
      if ((await marker(dir)) !== a.runId) return { removed: false, why: 'not created by this run' };
      await rm(dir, { recursive: true, force: true });
      return { removed: true };
    },
  };
}

function opt(version: string | undefined): { version?: string } {
  return version ? { version } : {};
}

export type ReleaseActivities = ReturnType<typeof createReleaseActivities>;
