// Owns every Terraform / OpenTofu side effect of a rollback: resolving commits in the configuration's git
// repository, checking one out into a run-named directory, init, plan (+ its summary from `show -json`), state
// reads and backups, apply of a saved plan, and the no-changes verification. Commands run through an injected
// execa-style runner; the program is OpenTofu unless the input asks for `terraform` (paths: common/tools.ts).
// Invariants:
//  - the shared checkout is never touched: a commit is extracted with `git archive` into
//    <workRoot>/runs/<runKey>/<purpose>-<commit>/ (written aside, then renamed: a retry finds it whole or absent);
//  - with `stateFile`, every command uses that local state (a backend override file in the checkout); without it,
//    the configuration's own backend with the worker's environment (credentials never pass through history);
//  - apply applies exactly the approved plan file; if the state moved since the plan, tofu refuses it ("Saved plan
//    is stale") and so do we — unless the state already converged to the approved configuration (a retry after
//    a worker died once apply was done), which counts as applied, so an apply happens once; a retry of an apply
//    that had started (its heartbeat says so) and left changes is a half-way failure, not a stale plan;
//  - a state backup is written aside and renamed, and is never deleted by cleanup.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { FailureType } from '../common/failures.ts';
import { iacBinaryPath } from '../common/tools.ts';
import { permanent, retryable } from './failures.ts';
import { previousHeartbeat, withHeartbeat } from './heartbeat.ts';
import type { CommandResult, CommandRunner } from './command.ts';
import { execaRunner } from './command.ts';

export type { CommandOptions, CommandResult, CommandRunner } from './command.ts';

export type IacTool = 'tofu' | 'terraform';

export interface TerraformDeps {
  run?: CommandRunner;
  /** Run directories (checkouts, plan files), state backups and mirrors of remote repositories. */
  workRoot: string;
  /** Program path per tool; default common/tools.ts iacBinaryPath. */
  binary?: (tool: IacTool) => string;
  /** Added to every command's environment (e.g. TF_CLI_CONFIG_FILE). */
  env?: Record<string, string>;
}

export interface CommitInfo {
  sha: string;
  subject: string;
}

/** Identity of a state: Terraform bumps `serial` on every write; `lineage` names the state's history. */
export interface StateRef {
  serial: number;
  lineage: string;
  /** False when there is no state yet. */
  exists: boolean;
}

export type ChangeAction = 'create' | 'update' | 'delete' | 'replace' | 'read';

export interface PlanSummary {
  /** First 16 hex digits of the plan file's sha256: approvals may name it (`planId`). */
  id: string;
  commit: string;
  changes: Array<{ address: string; action: ChangeAction }>;
  counts: Record<ChangeAction, number>;
  outputChanges: Array<{ name: string; action: ChangeAction }>;
  /** The state the plan was computed from. */
  state: StateRef;
}

export interface PlanResult {
  planFile: string;
  summary: PlanSummary;
  hasChanges: boolean;
}

export interface StateBackup {
  path: string;
  serial: number;
  lineage: string;
  sha256: string;
  bytes: number;
}

export interface ApplyResult {
  applied: boolean;
  /** The state had already converged to this plan's configuration (a retry after apply was done). */
  alreadyApplied: boolean;
  before: StateRef;
  after: StateRef;
  outputs: Record<string, unknown>;
}

export interface Verification {
  converged: boolean;
  exitCode: number;
  /** What still differs when not converged. */
  changes: Array<{ address: string; action: ChangeAction }>;
  state: StateRef;
  outputs: Record<string, unknown>;
}

const REMOTE = /^(https?|ssh|git|file):\/\/|^[\w.-]+@[\w.-]+:/;
const STALE = /Saved plan is stale/i;
const LOCKED = /Error acquiring the state lock|state lock/i;
const OVERRIDE_FILE = 'zz_cortex_rollback_backend_override.tf';

function tail(s: string, n = 1200): string {
  const t = s.trim();
  return t.length > n ? `…${t.slice(-n)}` : t;
}

export function stateRefOf(json: string): StateRef {
  if (json.trim() === '') return { serial: 0, lineage: '', exists: false };
  const s = JSON.parse(json) as { serial?: number; lineage?: string };
  return { serial: s.serial ?? 0, lineage: s.lineage ?? '', exists: true };
}

function sameState(a: StateRef, b: StateRef): boolean {
  return a.serial === b.serial && a.lineage === b.lineage && a.exists === b.exists;
}

/** `show -json` of a plan → resource changes per address (no-ops left out) and counts. */
export function summarizePlan(
  showJson: string,
  meta: { id: string; commit: string; state: StateRef },
): { summary: PlanSummary; hasChanges: boolean } {
  const plan = JSON.parse(showJson) as {
    resource_changes?: Array<{ address: string; change: { actions: string[] } }>;
    output_changes?: Record<string, { actions: string[] }>;
  };
  const counts: Record<ChangeAction, number> = { create: 0, update: 0, delete: 0, replace: 0, read: 0 };
  const changes: PlanSummary['changes'] = [];
  for (const rc of plan.resource_changes ?? []) {
    const action = actionOf(rc.change.actions);
    if (!action) continue;
    counts[action] += 1;
    changes.push({ address: rc.address, action });
  }
  const outputChanges: PlanSummary['outputChanges'] = [];
  for (const [name, oc] of Object.entries(plan.output_changes ?? {})) {
    const action = actionOf(oc.actions);
    if (action) outputChanges.push({ name, action });
  }
  return {
    summary: { ...meta, changes, counts, outputChanges },
    hasChanges: changes.length > 0 || outputChanges.length > 0,
  };
}

function actionOf(actions: string[]): ChangeAction | undefined {
  if (actions.includes('delete') && actions.includes('create')) return 'replace';
  const a = actions[0];
  return a === 'create' || a === 'update' || a === 'delete' || a === 'read' ? a : undefined;
}

export function createTerraformActivities(deps: TerraformDeps) {
  const run = deps.run ?? execaRunner;
  const binary = deps.binary ?? iacBinaryPath;
  const env = { TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1', ...deps.env };

  async function git(args: string[], what: string, cwd?: string): Promise<CommandResult> {
    const r = await run('git', args, { timeout: 120_000, env, ...(cwd ? { cwd } : {}) });
    if (r.errorCode === 'ENOENT') throw permanent(FailureType.Unavailable, `${what}: git is not installed here`);
    return r;
  }

  function program(tool: IacTool): string {
    try {
      return binary(tool);
    } catch (err) {
      throw permanent(FailureType.NotFound, `${tool} is not available on this worker: ${(err as Error).message}`);
    }
  }

  /** One tofu/terraform command in `workdir`; exit codes in `ok` are returned, others become failures. */
  async function tf(
    tool: IacTool,
    workdir: string,
    args: string[],
    what: string,
    ok: number[] = [0],
    timeoutMs = 600_000,
  ): Promise<CommandResult> {
    const r = await withHeartbeat(() => run(program(tool), args, { cwd: workdir, env, timeout: timeoutMs }));
    if (r.errorCode === 'ENOENT') throw permanent(FailureType.NotFound, `${what}: ${tool} is not installed here`);
    if (r.timedOut) throw retryable(FailureType.Unavailable, `${what}: timed out after ${timeoutMs / 1000}s`);
    if (r.exitCode !== undefined && ok.includes(r.exitCode)) return r;
    const out = tail(r.stderr || r.stdout);
    if (LOCKED.test(out)) throw retryable(FailureType.Unavailable, `${what}: the state is locked: ${out}`);
    throw permanent(FailureType.CommandFailed, `${what} failed (exit ${r.exitCode ?? '?'}): ${out}`);
  }

  /** The git directory holding the commits: the local repository, or a bare mirror of a remote one. */
  async function gitDir(repo: string, refresh: boolean): Promise<string> {
    if (!REMOTE.test(repo)) {
      if (!isAbsolute(repo) || !existsSync(repo)) {
        throw permanent(FailureType.NotFound, `repository ${repo} does not exist on this worker`);
      }
      const r = await git(['-C', repo, 'rev-parse', '--git-dir'], `git repository ${repo}`);
      if (r.exitCode !== 0) throw permanent(FailureType.NotFound, `${repo} is not a git repository: ${tail(r.stderr)}`);
      return repo;
    }
    const mirror = join(deps.workRoot, 'repos', `${sha256(repo).slice(0, 16)}.git`);
    if (!existsSync(mirror)) {
      const tmp = `${mirror}.${process.pid}.tmp`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(join(deps.workRoot, 'repos'), { recursive: true });
      const r = await withHeartbeat(() => git(['clone', '--quiet', '--bare', repo, tmp], `clone ${repo}`));
      if (r.exitCode !== 0) throw retryable(FailureType.Unavailable, `git clone ${repo}: ${tail(r.stderr)}`);
      renameSync(tmp, mirror);
    } else if (refresh) {
      const r = await withHeartbeat(() =>
        git(
          ['-C', mirror, 'fetch', '--quiet', '--prune', repo, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'],
          `fetch ${repo}`,
        ),
      );
      if (r.exitCode !== 0) throw retryable(FailureType.Unavailable, `git fetch ${repo}: ${tail(r.stderr)}`);
    }
    return mirror;
  }

  async function commitInfo(dir: string, rev: string, directory: string, field: string): Promise<CommitInfo> {
    const r = await git(['-C', dir, 'rev-parse', '--verify', '--quiet', `${rev}^{commit}`], `resolve ${rev}`);
    if (r.exitCode !== 0 || !/^[0-9a-f]{40,64}$/.test(r.stdout.trim())) {
      throw permanent(FailureType.NotFound, `${field}: '${rev}' is not a commit of the repository`);
    }
    const sha = r.stdout.trim();
    if (directory !== '.') {
      const t = await git(['-C', dir, 'cat-file', '-t', `${sha}:${directory}`], `find ${directory}`);
      if (t.stdout.trim() !== 'tree') {
        throw permanent(FailureType.NotFound, `${field}: commit ${sha.slice(0, 12)} has no directory '${directory}'`);
      }
    }
    const s = await git(['-C', dir, 'log', '-1', '--format=%s', sha], `subject of ${sha}`);
    return { sha, subject: s.stdout.trim() };
  }

  function runDir(runKey: string): string {
    if (!/^[A-Za-z0-9._-]{1,200}$/.test(runKey)) throw permanent(FailureType.InvalidInput, `bad run key ${runKey}`);
    return join(deps.workRoot, 'runs', runKey);
  }

  async function pullState(tool: IacTool, workdir: string): Promise<{ json: string; ref: StateRef }> {
    const r = await tf(tool, workdir, ['state', 'pull'], 'state pull');
    return { json: r.stdout, ref: stateRefOf(r.stdout) };
  }

  async function outputs(tool: IacTool, workdir: string): Promise<Record<string, unknown>> {
    const r = await tf(tool, workdir, ['output', '-json', '-no-color'], 'output');
    const o = JSON.parse(r.stdout || '{}') as Record<string, { value: unknown; sensitive?: boolean }>;
    // sensitive outputs never reach history
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.sensitive ? '(sensitive)' : v.value]));
  }

  /** `plan -detailed-exitcode` without saving: exit 0 = the state matches the configuration. */
  async function converges(
    tool: IacTool,
    workdir: string,
  ): Promise<{ exitCode: number; changes: Verification['changes'] }> {
    const planFile = join(workdir, `verify-${process.pid}.tfplan`);
    const r = await tf(
      tool,
      workdir,
      ['plan', '-input=false', '-no-color', '-detailed-exitcode', `-out=${planFile}`],
      'plan -detailed-exitcode',
      [0, 2],
    );
    let changes: Verification['changes'] = [];
    if (r.exitCode === 2) {
      const shown = await tf(tool, workdir, ['show', '-json', planFile], 'show -json');
      changes = summarizePlan(shown.stdout, { id: '', commit: '', state: { serial: 0, lineage: '', exists: false } })
        .summary.changes;
    }
    rmSync(planFile, { force: true });
    return { exitCode: r.exitCode ?? 1, changes };
  }

  return {
    /** Resolves the target and the previous commit; refuses an unknown one before anything changes. */
    async tfResolveCommits(a: {
      repo: string;
      directory: string;
      commit: string;
      previousCommit?: string;
    }): Promise<{ target: CommitInfo; previous: CommitInfo }> {
      const dir = await gitDir(a.repo, true);
      const target = await commitInfo(dir, a.commit, a.directory, 'commit');
      const previous = await commitInfo(dir, a.previousCommit ?? 'HEAD', a.directory, 'previousCommit');
      return { target, previous };
    },

    /** Extracts `commit`'s tree into the run's own directory (idempotent), points it at the state, runs init. */
    async tfPrepare(a: {
      repo: string;
      directory: string;
      commit: string;
      runKey: string;
      purpose: string;
      tool: IacTool;
      stateFile?: string;
    }): Promise<{ workdir: string; reused: boolean }> {
      const root = join(runDir(a.runKey), `${a.purpose}-${a.commit.slice(0, 12)}`);
      const reused = existsSync(join(root, '.cortex-checkout'));
      if (!reused) {
        const dir = await gitDir(a.repo, false);
        const tmp = `${root}.${process.pid}.tmp`;
        rmSync(tmp, { recursive: true, force: true });
        mkdirSync(tmp, { recursive: true });
        const tar = join(tmp, '.checkout.tar');
        const paths = a.directory === '.' ? [] : ['--', a.directory];
        const r = await git(['-C', dir, 'archive', '--format=tar', `--output=${tar}`, a.commit, ...paths], 'archive');
        if (r.exitCode !== 0) throw permanent(FailureType.CommandFailed, `git archive ${a.commit}: ${tail(r.stderr)}`);
        const x = await run('tar', ['-xf', tar, '-C', tmp], { timeout: 120_000 });
        if (x.exitCode !== 0) throw permanent(FailureType.CommandFailed, `tar -xf: ${tail(x.stderr)}`);
        rmSync(tar);
        writeFileSync(join(tmp, '.cortex-checkout'), `${a.commit}\n`);
        rmSync(root, { recursive: true, force: true });
        renameSync(tmp, root);
      }
      const workdir = join(root, a.directory);
      if (a.stateFile) {
        if (!existsSync(a.stateFile)) throw permanent(FailureType.NotFound, `state file ${a.stateFile} does not exist`);
        writeFileSync(
          join(workdir, OVERRIDE_FILE),
          `terraform {\n  backend "local" {\n    path = ${JSON.stringify(a.stateFile)}\n  }\n}\n`,
        );
      }
      await tf(a.tool, workdir, ['init', '-input=false', '-no-color'], `init of ${a.commit.slice(0, 12)}`);
      return { workdir, reused };
    },

    /** `plan -out` and its summary; the state's serial/lineage read just before, to detect a stale plan later. */
    async tfPlan(a: { workdir: string; tool: IacTool; name: string; commit: string }): Promise<PlanResult> {
      if (!/^[A-Za-z0-9._-]{1,80}$/.test(a.name)) throw permanent(FailureType.InvalidInput, `bad plan name ${a.name}`);
      const { ref } = await pullState(a.tool, a.workdir);
      const planFile = join(a.workdir, `${a.name}.tfplan`);
      await tf(a.tool, a.workdir, ['plan', '-input=false', '-no-color', `-out=${planFile}`], `plan of ${a.commit}`);
      const shown = await tf(a.tool, a.workdir, ['show', '-json', planFile], 'show -json');
      const id = sha256(readFileSync(planFile)).slice(0, 16);
      return { planFile, ...summarizePlan(shown.stdout, { id, commit: a.commit, state: ref }) };
    },

    async tfStateRef(a: { workdir: string; tool: IacTool }): Promise<StateRef> {
      return (await pullState(a.tool, a.workdir)).ref;
    },

    /** Read-only, for dry-run plans: the state backups in <workRoot>/backups/ (oldest first). */
    async tfListStateBackups(): Promise<Array<{ path: string; sizeBytes: number; mtime: string }>> {
      const dir = join(deps.workRoot, 'backups');
      const names = existsSync(dir) ? (await readdir(dir)).filter((n) => n.endsWith('.tfstate')) : [];
      const out: Array<{ path: string; sizeBytes: number; mtime: string }> = [];
      for (const n of names) {
        const st = await stat(join(dir, n));
        out.push({ path: join(dir, n), sizeBytes: st.size, mtime: st.mtime.toISOString() });
      }
      return out.sort((a, b) => a.mtime.localeCompare(b.mtime));
    },

    /** `state pull` into <workRoot>/backups/<name>-serial-<n>.tfstate (written aside, then renamed). */
    async tfBackupState(a: { workdir: string; tool: IacTool; name: string }): Promise<StateBackup> {
      if (!/^[A-Za-z0-9._-]{1,200}$/.test(a.name)) throw permanent(FailureType.InvalidInput, `bad backup ${a.name}`);
      const { json, ref } = await pullState(a.tool, a.workdir);
      const dir = join(deps.workRoot, 'backups');
      mkdirSync(dir, { recursive: true });
      const path = join(dir, `${a.name}-serial-${ref.serial}.tfstate`);
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, json);
      renameSync(tmp, path);
      return { path, serial: ref.serial, lineage: ref.lineage, sha256: sha256(json), bytes: Buffer.byteLength(json) };
    },

    /**
     * Applies exactly `planFile`. A state that moved since the plan (`expect`) is refused as stale (Conflict,
     * details.stale) unless it already converged to this configuration: then the plan counts as applied.
     */
    async tfApply(a: { workdir: string; tool: IacTool; planFile: string; expect: StateRef }): Promise<ApplyResult> {
      const before = (await pullState(a.tool, a.workdir)).ref;
      // an earlier attempt that reached `apply` may have changed the state itself before its worker died
      const interrupted = previousHeartbeat<{ applying?: boolean }>()?.applying === true;
      const staleOrDone = async (why: string): Promise<ApplyResult> => {
        const now = (await pullState(a.tool, a.workdir)).ref;
        const moved = now.lineage === a.expect.lineage && now.serial > a.expect.serial;
        if (moved && (await converges(a.tool, a.workdir)).exitCode === 0) {
          return {
            applied: false,
            alreadyApplied: true,
            before: a.expect,
            after: now,
            outputs: await outputs(a.tool, a.workdir),
          };
        }
        if (interrupted && moved) {
          throw permanent(
            FailureType.CommandFailed,
            `apply was interrupted (its worker died) and left the state part-way (serial ${a.expect.serial} → ` +
              `${now.serial}, changes remain)`,
            { halfway: true, before: a.expect, after: now },
          );
        }
        throw permanent(
          FailureType.Conflict,
          `the plan is stale: ${why} (planned at serial ${a.expect.serial}, state now at serial ${now.serial}` +
            `${now.lineage === a.expect.lineage ? '' : `, lineage ${now.lineage}`})`,
          { stale: true, planned: a.expect, now },
        );
      };
      if (!sameState(before, a.expect)) return staleOrDone('the state changed since planning');
      const bin = program(a.tool);
      const r = await withHeartbeat(
        () => run(bin, ['apply', '-input=false', '-no-color', a.planFile], { cwd: a.workdir, env, timeout: 3_600_000 }),
        1000,
        () => ({ applying: true }),
      );
      if (r.exitCode !== 0) {
        const out = tail(r.stderr || r.stdout);
        if (STALE.test(out)) return staleOrDone('tofu refused the saved plan as stale');
        if (LOCKED.test(out)) throw retryable(FailureType.Unavailable, `apply: the state is locked: ${out}`);
        const after = (await pullState(a.tool, a.workdir)).ref;
        throw permanent(FailureType.CommandFailed, `apply failed (exit ${r.exitCode ?? '?'}): ${out}`, {
          halfway: after.serial !== before.serial,
          before,
          after,
        });
      }
      return {
        applied: true,
        alreadyApplied: false,
        before,
        after: (await pullState(a.tool, a.workdir)).ref,
        outputs: await outputs(a.tool, a.workdir),
      };
    },

    /** `plan -detailed-exitcode` must report no changes; also returns the state and outputs reached. */
    async tfVerify(a: { workdir: string; tool: IacTool }): Promise<Verification> {
      const { exitCode, changes } = await converges(a.tool, a.workdir);
      return {
        converged: exitCode === 0,
        exitCode,
        changes,
        state: (await pullState(a.tool, a.workdir)).ref,
        outputs: await outputs(a.tool, a.workdir),
      };
    },

    /** Removes the run's checkouts and plan files (plans may hold secrets); state backups are kept. */
    async tfCleanup(a: { runKey: string }): Promise<{ removed: boolean }> {
      const dir = runDir(a.runKey);
      const removed = existsSync(dir);
      await rm(dir, { recursive: true, force: true });
      return { removed };
    },
  };
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
