// Owns the pure side of a fleet rollback (workflows/application/fleet.ts): the input's small languages — waves
// (`canary:1,25%,rest`) and counts-or-percents (`maxConcurrency`, `maxErrors`, as AWS SSM takes them) — the wave
// plan over the resolved targets, the fleet block of the status query and the current details built from it.
// Invariants: every target is in exactly one wave (targets left after the last named wave form a final `rest`
// wave); a percent of concurrency rounds up (never 0), a percent of errors rounds down (never more tolerant than
// asked). Deterministic: no I/O, importable by workflows, the client and unit tests.
import { InputError, show } from '../phases/validation.ts';

export type Amount = { count: number } | { percent: number };

export interface WaveSpec {
  name: string;
  /** How many targets: a count, a percent of all targets, or whatever is left. */
  size: Amount | 'rest';
}

const WAVE = /^(?:([a-z][a-z0-9-]{0,30}):)?(rest|\d{1,4}%?)$/;
const AMOUNT = /^(\d{1,6})(%?)$/;
const FLEET_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
export const MAX_FLEET_TARGETS = 500;

export function validateFleetName(v: unknown, field: string): string {
  if (typeof v !== 'string' || !FLEET_NAME.test(v)) {
    throw new InputError(field, `${show(v)} is not a valid fleet name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63)`);
  }
  return v;
}

/** `3`, `"3"` or `"25%"`; `min` is the smallest count allowed (0 for maxErrors). */
export function parseAmount(v: unknown, field: string, min: number): Amount {
  const s = typeof v === 'number' && Number.isInteger(v) ? String(v) : typeof v === 'string' ? v.trim() : undefined;
  const m = s === undefined ? null : AMOUNT.exec(s);
  if (!m)
    throw new InputError(field, `must be a count (e.g. 3) or a percent of the targets (e.g. "25%"), got ${show(v)}`);
  const n = Number(m[1]);
  if (m[2] === '%') {
    if (n < 1 || n > 100) throw new InputError(field, `a percent must be from 1% to 100%, got ${show(v)}`);
    return { percent: n };
  }
  if (n < min || n > MAX_FLEET_TARGETS) {
    throw new InputError(field, `must be from ${min} to ${MAX_FLEET_TARGETS} (or a percent), got ${show(v)}`);
  }
  return { count: n };
}

/** `"canary:1,25%,rest"` or `["canary:1", "25%", "rest"]`: each wave `[name:]N`, `[name:]P%` or `[name:]rest`. */
export function parseWaves(v: unknown, field: string): WaveSpec[] {
  const items = typeof v === 'string' ? v.split(',') : Array.isArray(v) ? v : undefined;
  if (!items || items.length === 0 || items.length > 20 || items.some((i) => typeof i !== 'string')) {
    throw new InputError(
      field,
      `must be a comma-separated list of 1 to 20 waves (e.g. "canary:1,25%,rest"), got ${show(v)}`,
    );
  }
  const waves = (items as string[]).map((raw, i): WaveSpec => {
    const m = WAVE.exec(raw.trim());
    if (!m) {
      throw new InputError(
        field,
        `wave ${i + 1} ${show(raw)} is not [name:]N, [name:]P% or [name:]rest (name: lower-case letters, digits, '-')`,
      );
    }
    const name = m[1] ?? (m[2] === 'rest' ? 'rest' : `wave-${i + 1}`);
    if (m[2] === 'rest') {
      if (i !== items.length - 1) throw new InputError(field, `'rest' must be the last wave (it is wave ${i + 1})`);
      return { name, size: 'rest' };
    }
    const size = parseAmount(m[2], field, 1);
    return { name, size };
  });
  const names = waves.map((w) => w.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new InputError(field, `wave name '${dup}' is used twice`);
  return waves;
}

/** A count or percent of `total`: percents round up (`up`, at least 1) or down (`down`). */
export function resolveAmount(a: Amount, total: number, round: 'up' | 'down'): number {
  if ('count' in a) return a.count;
  const exact = (total * a.percent) / 100;
  return round === 'up' ? Math.max(1, Math.ceil(exact)) : Math.floor(exact);
}

export function showAmount(a: Amount): string {
  return 'count' in a ? String(a.count) : `${a.percent}%`;
}

/** The waves over `total` targets in order: [first, end) index ranges; empty waves are dropped. */
export function planWaves(
  specs: WaveSpec[],
  total: number,
): Array<{ name: string; spec: string; first: number; end: number }> {
  const out: Array<{ name: string; spec: string; first: number; end: number }> = [];
  let next = 0;
  for (const s of specs) {
    if (next >= total) break;
    const n = s.size === 'rest' ? total - next : resolveAmount(s.size, total, 'up');
    const end = Math.min(total, next + n);
    out.push({ name: s.name, spec: s.size === 'rest' ? 'rest' : showAmount(s.size), first: next, end });
    next = end;
  }
  if (next < total) {
    const name = out.some((w) => w.name === 'rest') ? 'remainder' : 'rest';
    out.push({ name, spec: 'rest (implicit)', first: next, end: total });
  }
  return out;
}

export type FleetTargetPhase =
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'already-on-target'
  | 'failed'
  | 'conflict'
  | 'skipped'
  | 'reverting'
  | 'reverted'
  | 'revert-failed';

/** One container of the fleet, as the status query, the result and the report show it. */
export interface FleetTarget {
  host: string;
  container: string;
  healthUrl: string;
  wave: string;
  phase: FleetTargetPhase;
  /** The docker rollback child (business key rollback-docker-<host>-<container>). */
  childWorkflowId: string;
  childRunId?: string;
  startedAt?: string;
  endedAt?: string;
  /** The image it ran before, when this fleet changed it (what a revert goes back to). */
  from?: { image: string; imageId: string };
  to?: { image: string; imageId: string };
  /** Why it failed, conflicted, was skipped. */
  detail?: string;
  /** The failed child's failure type (common/failures.ts): CompensationFailed means its own undo failed. */
  failureType?: string;
  revert?: {
    runId?: string;
    startedAt: string;
    endedAt?: string;
    outcome?: 'reverted' | 'revert-failed';
    detail?: string;
  };
}

export interface FleetWave {
  name: string;
  /** As asked: `1`, `25%`, `rest`. */
  spec: string;
  targets: number;
  state: 'pending' | 'running' | 'completed' | 'halted' | 'skipped';
  startedAt?: string;
  endedAt?: string;
}

export interface FleetStatus {
  name: string;
  targetImage: string;
  onFailure: 'halt' | 'halt-and-revert';
  maxConcurrency: number;
  maxErrors: number;
  errors: number;
  /** Further errors tolerated before the fleet halts (maxErrors - errors, never below 0). */
  errorBudgetLeft: number;
  running: number;
  waves: FleetWave[];
  targets: FleetTarget[];
  paused?: { by: string; at: string; reason?: string };
  aborted?: { by: string; at: string; reason?: string };
  /** While waiting between waves: the next wave and when it may start. */
  nextWave?: { name: string; notBefore: string };
  halted?: { at: string; reason: string };
}

/** The fleet block of the current details (Markdown): progress, budget, what runs, what failed. */
export function fleetDetails(f: FleetStatus): string {
  const count = (...p: FleetTargetPhase[]) => f.targets.filter((t) => p.includes(t.phase)).length;
  const wave = f.waves.find((w) => w.state === 'running') ?? f.waves.filter((w) => w.state !== 'pending').at(-1);
  const lines = [
    `**fleet ${f.name}:** ${f.targets.length} targets → ${f.targetImage}; ` +
      `${count('succeeded', 'already-on-target')} done, ${f.running} running, ${count('failed', 'conflict')} failed, ` +
      `${count('pending')} pending, ${count('skipped')} skipped` +
      (count('reverted', 'revert-failed', 'reverting') ? `, ${count('reverted')} reverted` : ''),
    `**wave:** ${wave ? `${wave.name} (${wave.spec}, ${wave.targets} targets) ${wave.state}` : 'none yet'} of ` +
      `${f.waves.map((w) => w.name).join(' → ')}; max ${f.maxConcurrency} at once`,
    `**error budget:** ${f.errors} error(s) of ${f.maxErrors} allowed, ${f.errorBudgetLeft} left` +
      ` (halts when errors exceed ${f.maxErrors}; on failure: ${f.onFailure})`,
  ];
  if (f.paused) lines.push(`**paused** by ${f.paused.by} at ${f.paused.at} — signal \`resume\` to go on`);
  if (f.nextWave) lines.push(`**next wave:** ${f.nextWave.name} not before ${f.nextWave.notBefore}`);
  if (f.halted) lines.push(`**halted:** ${f.halted.reason}`);
  for (const t of f.targets.filter((x) => x.phase === 'running' || x.phase === 'reverting').slice(0, 10)) {
    lines.push(
      `- ${t.phase} ${t.host}/${t.container} since ${t.revert?.startedAt ?? t.startedAt ?? '?'} (${t.childWorkflowId})`,
    );
  }
  for (const t of f.targets.filter((x) => ['failed', 'conflict', 'revert-failed'].includes(x.phase)).slice(0, 10)) {
    lines.push(`- ${t.phase} ${t.host}/${t.container}: ${(t.revert?.detail ?? t.detail ?? '').slice(0, 200)}`);
  }
  return lines.join('\n\n');
}
