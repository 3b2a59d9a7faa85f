// Owns every iptables side effect of the network rollback (iptables-save / iptables-restore, optionally inside a
// network namespace via `ip netns exec`) and the health probes made from where the rules apply.
// Invariants:
//  - a rules file is checked with `iptables-restore --test` and its sha256 recorded before anything changes; the
//    apply refuses a file whose content changed since (Conflict), so the rules approved are the rules applied;
//  - backups are written atomically (temp file + rename) and carry their sha256; a restore refuses a backup that
//    changed, and also removes tables the backup did not have (iptables-restore alone leaves them), then proves the
//    live rules equal the backup (canonical form: no comments, no counters, empty all-ACCEPT tables dropped);
//  - apply and restore replace whole tables, so a retry after a worker crash has the same effect as one run.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FailureType } from '../common/failures.ts';
import { PROJECT_ROOT } from '../common/tools.ts';
import { execaRunner, lastLine, type CommandResult, type CommandRunner } from './command.ts';
import { permanent, retryable } from './failures.ts';
import { judgeHealth, probe, type HealthSample } from './health.ts';
import { sleep, withHeartbeat } from './heartbeat.ts';

export interface IptablesDeps {
  run?: CommandRunner;
  /** Where backups go on this host; default .data/backups/network under the project. */
  backupRoot?: string;
  /** Program names: iptables-save / iptables-restore (e.g. the -legacy variants). */
  save?: string;
  restore?: string;
  /** `iptables` itself, for single rules (the emergency's port blocks). */
  iptables?: string;
}

/** The emergency isolation's rule for one port: TCP to it dropped, except over loopback when allowed. */
export function blockRule(port: number, allowLoopback: boolean): string[] {
  return [
    ...(allowLoopback ? ['!', '-i', 'lo'] : []),
    '-p',
    'tcp',
    '--dport',
    String(port),
    '-m',
    'comment',
    '--comment',
    'cortex-emergency-isolation',
    '-j',
    'DROP',
  ];
}

export interface RulesState {
  /** sha256 of the canonical form (comments and counters stripped): equal hashes = same rules. */
  canonicalSha256: string;
  tables: string[];
  rules: number;
}

export interface TargetRules extends RulesState {
  rulesFile: string;
  /** sha256 of the file's bytes: the apply refuses a file that changed after this check. */
  sha256: string;
}

export interface RulesBackup extends RulesState {
  path: string;
  sha256: string;
}

export interface RestoredRules extends RulesState {
  restoredFrom: string;
  /** Tables that existed after the change but not in the backup, removed by the restore. */
  removedTables: string[];
}

export interface NetworkHealth {
  healthy: boolean;
  attempts: number;
  elapsedMs: number;
  results: Array<{ url: string; last: HealthSample }>;
}

/** iptables-save text in a comparable form; tables that hold nothing (no rules, no own chains, all ACCEPT) are dropped. */
export function canonicalRules(text: string): { text: string; tables: string[]; rules: number } {
  const tables: Array<{ name: string; lines: string[]; meaningful: boolean }> = [];
  let cur: (typeof tables)[number] | undefined;
  let rules = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/^\[\d+:\d+\]\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      cur = { name: line.slice(1), lines: [line], meaningful: false };
      tables.push(cur);
    } else if (line.startsWith(':') && cur) {
      const [chain, policy] = line.slice(1).split(/\s+/);
      cur.lines.push(`:${chain} ${policy}`);
      if (policy !== 'ACCEPT') cur.meaningful = true; // a DROP policy, or a user chain ('-')
    } else if (cur) {
      cur.lines.push(line.replace(/\s+/g, ' '));
      if (line !== 'COMMIT') {
        cur.meaningful = true;
        rules += 1;
      }
    }
  }
  const kept = tables.filter((t) => t.meaningful).sort((a, b) => a.name.localeCompare(b.name));
  return { text: kept.map((t) => t.lines.join('\n')).join('\n'), tables: kept.map((t) => t.name), rules };
}

function sha256(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex');
}

function stateOf(text: string): RulesState {
  const c = canonicalRules(text);
  return { canonicalSha256: sha256(c.text), tables: c.tables, rules: c.rules };
}

/** Every table named in iptables-save text, empty or not. */
function tablesIn(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('*'))
    .map((l) => l.slice(1).trim());
}

export function createIptablesActivities(deps: IptablesDeps = {}) {
  const run = deps.run ?? execaRunner;
  const saveBin = deps.save ?? 'iptables-save';
  const restoreBin = deps.restore ?? 'iptables-restore';
  const iptablesBin = deps.iptables ?? 'iptables';
  const backupRoot = deps.backupRoot ?? join(PROJECT_ROOT, '.data', 'backups', 'network');

  async function inNs(netns: string | undefined, file: string, args: string[], timeout = 30_000) {
    const r = netns
      ? await run('ip', ['netns', 'exec', netns, file, ...args], { timeout })
      : await run(file, args, { timeout });
    if (r.errorCode === 'ENOENT') {
      throw permanent(FailureType.NotFound, `${netns ? 'ip' : file} is not installed on this host`);
    }
    if (netns && r.exitCode !== 0 && /Cannot open network namespace/i.test(r.stderr)) {
      throw permanent(FailureType.NotFound, `network namespace '${netns}' does not exist on this host`);
    }
    return r;
  }

  async function save(netns: string | undefined): Promise<string> {
    const r = await inNs(netns, saveBin, []);
    if (r.exitCode !== 0) throw failed(r, `${saveBin}${where(netns)}`);
    return r.stdout;
  }

  async function readRules(path: string, what: string): Promise<string> {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT') throw permanent(FailureType.NotFound, `${what} ${path} does not exist on this host`);
      if (code === 'EISDIR' || code === 'EACCES') throw permanent(FailureType.InvalidInput, `${what} ${path}: ${code}`);
      throw retryable(FailureType.Unavailable, `${what} ${path}: ${(err as Error).message}`, err);
    }
  }

  async function restoreFile(netns: string | undefined, path: string, test: boolean): Promise<CommandResult> {
    return inNs(netns, restoreBin, ['-w', '10', ...(test ? ['--test'] : []), path]);
  }

  return {
    /** Read-only: the file parses (`iptables-restore --test`) where it will be applied. */
    async iptablesCheckTarget({ rulesFile, netns }: { rulesFile: string; netns?: string }): Promise<TargetRules> {
      const text = await readRules(rulesFile, 'rules file');
      if (tablesIn(text).length === 0) {
        throw permanent(
          FailureType.InvalidInput,
          `rules file ${rulesFile} names no table (*filter ... COMMIT): not iptables-save output`,
        );
      }
      const r = await restoreFile(netns, rulesFile, true);
      if (r.exitCode !== 0) {
        throw permanent(
          FailureType.InvalidInput,
          `rules file ${rulesFile} does not parse${where(netns)}: ${lastLine(r)} (${errLine(r)})`,
        );
      }
      return { rulesFile, sha256: sha256(text), ...stateOf(text) };
    },

    /** Read-only: what is live now. */
    async iptablesState({ netns }: { netns?: string }): Promise<RulesState> {
      return stateOf(await save(netns));
    },

    /** Read-only, for dry-run plans: the rules backups in `<backupRoot>` (oldest first). */
    async iptablesListBackups(): Promise<Array<{ path: string; sizeBytes: number; mtime: string }>> {
      const names = await readdir(backupRoot).catch(() => [] as string[]);
      const out: Array<{ path: string; sizeBytes: number; mtime: string }> = [];
      for (const n of names.filter((x) => x.endsWith('.rules'))) {
        const st = await stat(join(backupRoot, n)).catch(() => undefined);
        if (st?.isFile()) out.push({ path: join(backupRoot, n), sizeBytes: st.size, mtime: st.mtime.toISOString() });
      }
      return out.sort((a, b) => a.mtime.localeCompare(b.mtime));
    },

    /** `iptables-save` to `<backupRoot>/<name>.rules`, atomically. */
    async iptablesBackup({ netns, name }: { netns?: string; name: string }): Promise<RulesBackup> {
      const text = await save(netns);
      const path = join(backupRoot, `${name}.rules`);
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, path);
      return { path, sha256: sha256(text), ...stateOf(text) };
    },

    /** `iptables-restore` of the checked file; refuses a file that changed since the check. */
    async iptablesApply({
      rulesFile,
      sha256: expected,
      netns,
    }: {
      rulesFile: string;
      sha256: string;
      netns?: string;
    }): Promise<RulesState> {
      return withHeartbeat(async () => {
        const text = await readRules(rulesFile, 'rules file');
        if (sha256(text) !== expected) {
          throw permanent(
            FailureType.Conflict,
            `rules file ${rulesFile} changed after it was checked and approved (sha256 ${expected.slice(0, 12)}…); nothing applied`,
          );
        }
        const r = await restoreFile(netns, rulesFile, false);
        if (r.exitCode !== 0) throw failed(r, `${restoreBin} ${rulesFile}${where(netns)}`);
        return stateOf(await save(netns));
      });
    },

    /** Puts the backup back (and drops tables it did not have), then proves the live rules equal it. */
    async iptablesRestoreBackup({
      backupPath,
      sha256: expected,
      netns,
    }: {
      backupPath: string;
      sha256: string;
      netns?: string;
    }): Promise<RestoredRules> {
      return withHeartbeat(async () => {
        const text = await readRules(backupPath, 'backup');
        if (sha256(text) !== expected) {
          throw permanent(
            FailureType.Conflict,
            `backup ${backupPath} is not the one taken (sha256 differs); restore it by hand after checking it`,
          );
        }
        const have = new Set(tablesIn(text));
        const removedTables = tablesIn(await save(netns)).filter((t) => !have.has(t));
        const input = `${text.endsWith('\n') || text === '' ? text : `${text}\n`}${removedTables.map((t) => `*${t}\nCOMMIT\n`).join('')}`;
        const inputPath = `${backupPath}.restore`;
        await writeFile(inputPath, input, { mode: 0o600 });
        const r = await restoreFile(netns, inputPath, false);
        if (r.exitCode !== 0) throw failed(r, `${restoreBin} ${backupPath}${where(netns)}`);
        const now = stateOf(await save(netns));
        const want = stateOf(text);
        if (now.canonicalSha256 !== want.canonicalSha256) {
          throw retryable(
            FailureType.Unavailable,
            `after restoring ${backupPath} the live rules still differ from it (${now.rules} rules vs ${want.rules})`,
          );
        }
        return { restoredFrom: backupPath, removedTables, ...now };
      });
    },

    /** Polls every URL until all answer healthy or `timeoutSeconds` pass; from inside `netns` when given. */
    async networkHealth({
      urls,
      netns,
      timeoutSeconds,
    }: {
      urls: string[];
      netns?: string;
      timeoutSeconds: number;
    }): Promise<NetworkHealth> {
      const started = Date.now();
      let attempts = 0;
      return withHeartbeat(
        async () => {
          for (;;) {
            attempts += 1;
            const results = await Promise.all(urls.map(async (url) => ({ url, last: await probeIn(netns, url) })));
            const elapsedMs = Date.now() - started;
            const healthy = results.every((r) => r.last.ok);
            if (healthy || elapsedMs + 200 > timeoutSeconds * 1000) return { healthy, attempts, elapsedMs, results };
            await sleep(200);
          }
        },
        500,
        () => ({ attempts }),
      );
    },

    /** Which of `ports` have the isolation rule in INPUT (`iptables -C`). Read-only. */
    async iptablesPortsBlocked(a: {
      ports: number[];
      allowLoopback: boolean;
      netns?: string;
    }): Promise<Array<{ port: number; blocked: boolean }>> {
      const out: Array<{ port: number; blocked: boolean }> = [];
      for (const port of a.ports) {
        const r = await inNs(a.netns, iptablesBin, ['-w', '10', '-C', 'INPUT', ...blockRule(port, a.allowLoopback)]);
        if (r.exitCode !== 0 && r.exitCode !== 1) throw failed(r, `${iptablesBin} -C INPUT${where(a.netns)}`);
        out.push({ port, blocked: r.exitCode === 0 });
      }
      return out;
    },

    /** Inserts the isolation rule for each port at the top of INPUT; a port already blocked is left as is. */
    async iptablesBlockPorts(a: {
      ports: number[];
      allowLoopback: boolean;
      netns?: string;
    }): Promise<{ blocked: number[]; alreadyBlocked: number[] } & RulesState> {
      return withHeartbeat(async () => {
        const blocked: number[] = [];
        const alreadyBlocked: number[] = [];
        for (const port of a.ports) {
          const rule = blockRule(port, a.allowLoopback);
          const c = await inNs(a.netns, iptablesBin, ['-w', '10', '-C', 'INPUT', ...rule]);
          if (c.exitCode === 0) {
            alreadyBlocked.push(port);
            continue;
          }
          const r = await inNs(a.netns, iptablesBin, ['-w', '10', '-I', 'INPUT', '1', ...rule]);
          if (r.exitCode !== 0) throw failed(r, `${iptablesBin} -I INPUT (port ${port})${where(a.netns)}`);
          blocked.push(port);
        }
        return { blocked, alreadyBlocked, ...stateOf(await save(a.netns)) };
      });
    },
  };

  async function probeIn(netns: string | undefined, url: string): Promise<HealthSample> {
    if (!netns) return probe(url, 2000);
    const started = Date.now();
    const at = new Date(started).toISOString();
    const r = await inNs(netns, 'curl', ['-sS', '--max-time', '2', '-o', '-', '-w', '\n%{http_code}', url], 5000);
    const latencyMs = Date.now() - started;
    if (r.exitCode !== 0) return { at, ok: false, latencyMs, error: `curl exit ${r.exitCode}: ${lastLine(r)}` };
    const cut = r.stdout.lastIndexOf('\n');
    return { at, ...judgeHealth(Number(r.stdout.slice(cut + 1)), r.stdout.slice(0, cut)), latencyMs };
  }
}

function where(netns: string | undefined): string {
  return netns ? ` in network namespace '${netns}'` : '';
}

function errLine(r: CommandResult): string {
  return /Error occurred at line: \d+/.exec(r.stderr)?.[0] ?? `exit ${r.exitCode ?? '?'}`;
}

/** A program that ran and failed: exit 1/2 of iptables means a bad table or rule (permanent); a timeout may pass. */
function failed(r: CommandResult, what: string) {
  if (r.timedOut) return retryable(FailureType.Unavailable, `${what}: timed out`);
  if (/xtables lock|Resource temporarily unavailable/i.test(r.stderr)) {
    return retryable(FailureType.Unavailable, `${what}: ${lastLine(r)}`);
  }
  return permanent(FailureType.Conflict, `${what} failed (exit ${r.exitCode ?? '?'}): ${lastLine(r)}`);
}
