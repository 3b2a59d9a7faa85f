// Owns every systemd side effect on a host (systemctl show / restart, journalctl), through an injected
// execa-style command runner, so the same code runs on a host worker and against a fake in unit tests.
// Invariants: reads never change anything; a restart is idempotent — it is skipped when the unit's current
// invocation already began after the change it follows (the `after` path's last change), so a retry after a
// worker crash does not restart the service twice.
import { lstat } from 'node:fs/promises';
import { FailureType } from '../common/failures.ts';
import { fullUnitName, isValidUnitName } from '../common/release-names.ts';
import { permanent, retryable } from './failures.ts';
import { withHeartbeat } from './heartbeat.ts';
import type { CommandResult, CommandRunner } from './command.ts';
import { execaRunner } from './command.ts';

export type { CommandOptions, CommandResult, CommandRunner } from './command.ts';
export { execaRunner } from './command.ts';

export interface UnitState {
  unit: string;
  loadState: string;
  activeState: string;
  subState: string;
  /** Changes on every start: the proof of a restart. Empty while the unit never ran. */
  invocationId: string;
  mainPid: number;
  /** When the current invocation left the inactive state (ISO, µs precision); undefined if never started. */
  startedAt?: string;
  nRestarts: number;
  fragmentPath?: string;
}

export interface RestartResult {
  restarted: boolean;
  /** Why a restart was skipped (the unit already began after the change). */
  skipped?: string;
  before: UnitState;
  after: UnitState;
}

const SHOW_PROPS = [
  'Id',
  'LoadState',
  'ActiveState',
  'SubState',
  'InvocationID',
  'MainPID',
  'InactiveExitTimestamp',
  'NRestarts',
  'FragmentPath',
];

/** A unit name as systemd knows it: `cortex-mcp` → `cortex-mcp.service`. */
export function unitName(unit: string): string {
  if (!isValidUnitName(unit)) throw permanent(FailureType.InvalidInput, `invalid systemd unit name '${unit}'`);
  return fullUnitName(unit);
}

/** `Sun 2026-11-29 06:50:03.046249 UTC` (systemctl --timestamp=us+utc) → ISO string; undefined when empty. */
export function parseSystemdTimestamp(v: string | undefined): string | undefined {
  const m = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)? UTC/.exec(v ?? '');
  if (!m) return undefined;
  return `${m[1]}T${m[2]}${(m[3] ?? '').padEnd(7, '0').slice(0, 7)}Z`;
}

/** Microseconds since the epoch of an ISO string with up to µs precision (Date keeps only ms). */
export function isoMicros(iso: string): bigint {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(iso);
  if (!m) return BigInt(Date.parse(iso)) * 1000n;
  const secondsMs = BigInt(Date.parse(`${m[1]}Z`));
  return secondsMs * 1000n + BigInt((m[2] ?? '').padEnd(6, '0').slice(0, 6));
}

function tail(s: string, n = 800): string {
  const t = s.trim();
  return t.length > n ? `…${t.slice(-n)}` : t;
}

export function createSystemdActivities({ run = execaRunner }: { run?: CommandRunner } = {}) {
  async function systemctl(args: string[], what: string, timeoutMs = 30_000): Promise<CommandResult> {
    const r = await run('systemctl', args, { timeout: timeoutMs });
    if (r.errorCode === 'ENOENT') {
      throw permanent(FailureType.Unavailable, `${what}: systemctl is not installed on this worker's host`);
    }
    return r;
  }

  async function state(unit: string): Promise<UnitState> {
    const name = unitName(unit);
    const r = await systemctl(
      ['show', name, '--timestamp=us+utc', ...SHOW_PROPS.map((p) => `--property=${p}`)],
      `systemctl show ${name}`,
    );
    if (r.failed) {
      // no bus / systemd not running (yet): a passing condition on a booting host
      throw retryable(FailureType.Unavailable, `systemctl show ${name}: ${tail(r.stderr || r.stdout)}`);
    }
    const p: Record<string, string> = {};
    for (const line of r.stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) p[line.slice(0, i)] = line.slice(i + 1);
    }
    const startedAt = parseSystemdTimestamp(p.InactiveExitTimestamp);
    return {
      unit: name,
      loadState: p.LoadState ?? '',
      activeState: p.ActiveState ?? '',
      subState: p.SubState ?? '',
      invocationId: p.InvocationID ?? '',
      mainPid: Number(p.MainPID ?? 0),
      ...(startedAt ? { startedAt } : {}),
      nRestarts: Number(p.NRestarts ?? 0),
      ...(p.FragmentPath ? { fragmentPath: p.FragmentPath } : {}),
    };
  }

  async function loaded(unit: string): Promise<UnitState> {
    const s = await state(unit);
    if (s.loadState === 'not-found') throw permanent(FailureType.NotFound, `systemd unit ${s.unit} not found`);
    if (s.loadState !== 'loaded') {
      throw permanent(FailureType.Conflict, `systemd unit ${s.unit} is ${s.loadState}, not loaded`);
    }
    return s;
  }

  /** Last change of `path` itself (a symlink is not followed), in µs since the epoch; undefined if absent. */
  async function changedAt(path: string): Promise<bigint | undefined> {
    try {
      const st = await lstat(path, { bigint: true });
      return st.mtimeNs / 1000n;
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  return {
    /** `systemctl show <unit>`: load/active state and the InvocationID that changes on every start. */
    async systemdUnitState({ unit }: { unit: string }): Promise<UnitState> {
      return loaded(unit);
    },

    /**
     * `systemctl restart <unit>`, skipped when the unit's current invocation began after `after` (a path, e.g.
     * the `current` release symlink) last changed: that restart already happened, in an earlier attempt.
     * Waits for the restart job (systemctl blocks until the unit is started or failed); a unit that fails to
     * start is reported in `after`, not thrown — health verification decides.
     */
    async systemdRestart({
      unit,
      after,
      timeoutSeconds = 90,
    }: {
      unit: string;
      after?: string;
      timeoutSeconds?: number;
    }): Promise<RestartResult> {
      const before = await loaded(unit);
      if (after && before.startedAt) {
        const changed = await changedAt(after);
        if (changed !== undefined && isoMicros(before.startedAt) > changed) {
          return {
            restarted: false,
            skipped: `${before.unit} already started at ${before.startedAt}, after ${after} changed`,
            before,
            after: before,
          };
        }
      }
      const r = await withHeartbeat(
        () => systemctl(['restart', before.unit], `systemctl restart ${before.unit}`, timeoutSeconds * 1000),
        500,
      );
      const now = await state(unit);
      if (r.timedOut) {
        throw retryable(FailureType.Unavailable, `systemctl restart ${before.unit} timed out after ${timeoutSeconds}s`);
      }
      // A start that fails leaves a new invocation behind (failed): that is data for verification, not an error.
      if (r.failed && now.invocationId === before.invocationId) {
        throw retryable(
          FailureType.Unavailable,
          `systemctl restart ${before.unit} failed (exit ${r.exitCode}): ${tail(r.stderr)}`,
        );
      }
      return { restarted: true, before, after: now };
    },

    /** `journalctl -u <unit> -n <lines>`: the unit's last lines, oldest first. */
    async systemdJournal({ unit, lines = 20 }: { unit: string; lines?: number }): Promise<string[]> {
      const name = unitName(unit);
      const n = Math.max(1, Math.min(1000, Math.floor(lines)));
      const r = await run('journalctl', ['-u', name, '-n', String(n), '--no-pager', '-o', 'short-iso'], {
        timeout: 30_000,
      });
      if (r.failed) throw retryable(FailureType.Unavailable, `journalctl -u ${name}: ${tail(r.stderr)}`);
      return r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('-- '));
    },
  };
}

export type SystemdActivities = ReturnType<typeof createSystemdActivities>;
