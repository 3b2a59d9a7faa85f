// Owns the fault matrix's machine-readable result (docs/fault-matrix.json) and the markdown table made from it.
// Each cell keeps the record of the last invocation that ran it (when, at which commit, in which mode, every run
// with its verdict, the fault point the run's history proves, its time); an invocation that runs only some cells
// (`--ci`, `--only`, `--fault`) replaces those cells and keeps the others, so the file is always the last result
// of every cell. The table (docs/faults-table.md) is generated from the file alone: `npm run faults:table`.
// Invariants: a cell's verdict is 'fail' if any of its runs failed; 'pass' only if it has at least one run and none
// failed; 'n/a' when the fault does not apply to the workflow (no step it could hit); 'not caught' when it was tried
// at every point it applies to and each step ended before the fault could reach it (no run proves anything, no
// state was left half-done); 'not run' when no invocation has run it yet.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';

export const MATRIX_FILE = join(PROJECT_ROOT, 'docs', 'fault-matrix.json');
export const TABLE_FILE = join(PROJECT_ROOT, 'docs', 'faults-table.md');

export type Verdict = 'pass' | 'fail' | 'n/a' | 'not caught' | 'not run';

/** A cell's verdict, also for records written before 'not caught' and 'no run' cells were told apart. */
export function verdictOf(c: Pick<CellRecord, 'verdict' | 'text' | 'runs'>): Verdict {
  if (c.verdict !== 'not run') return c.verdict;
  if (c.text === 'no run') return 'n/a';
  if (c.runs.length === 0 && /not caught/.test(c.text)) return 'not caught';
  return 'not run';
}

export interface RunRecord {
  workflowId: string;
  runId: string;
  /** completed, compensated, failed, nothing changed, …, or timed out. */
  label: string;
  ms: number;
  /** Activities whose final attempt was not the first, as type#attempt. */
  retried: string[];
  note?: string;
  /** Why the run makes the cell fail (state not consistent, fault not proven, …). */
  fail?: string;
  /** The fault point as the run's history proves it (which worker was killed where, who finished the run). */
  proof?: string;
}

export interface CellRecord {
  verdict: Verdict;
  /** The cell's text in the table. */
  text: string;
  ms: number;
  runs: RunRecord[];
  /** Activities a mid-activity fault could not catch in flight. */
  skipped?: string[];
  at: string;
  commit: string;
  mode: Mode;
}

export interface RowRecord {
  name: string;
  workflowType: string;
  /** What the row runs against (the real system of the workflow). */
  system: string;
  cells: Record<string, CellRecord>;
}

export type Mode = 'full' | 'ci' | 'partial';

export interface InvocationRecord {
  at: string;
  commit: string;
  mode: Mode;
  args: string[];
  durationSeconds: number;
  cells: number;
  runs: number;
  workerKills: number;
  temporalRestarts: number;
  dockerdRestarts: number;
  qdrantRestarts?: number;
  failures: string[];
}

export interface MatrixRecord {
  version: 1;
  columns: Array<{ id: string; title: string; kind: 'transient' | 'non-transient' | 'baseline' }>;
  rows: RowRecord[];
  /** The last invocation of each mode (its time is the matrix's time for that mode). */
  invocations: Partial<Record<Mode, InvocationRecord>>;
}

export function readRecord(file = MATRIX_FILE): MatrixRecord | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as MatrixRecord;
}

/** `next` over `prev`: the columns and rows of `next` (in its order, then rows only `prev` has), cells merged. */
export function mergeRecords(prev: MatrixRecord | undefined, next: MatrixRecord): MatrixRecord {
  if (!prev) return next;
  const columns = [...next.columns, ...prev.columns.filter((c) => !next.columns.some((n) => n.id === c.id))];
  const rows = next.rows.map((r) => {
    const old = prev.rows.find((p) => p.name === r.name);
    return { ...r, cells: { ...(old?.cells ?? {}), ...r.cells } };
  });
  for (const p of prev.rows) if (!rows.some((r) => r.name === p.name)) rows.push(p);
  return { version: 1, columns, rows, invocations: { ...prev.invocations, ...next.invocations } };
}

export function writeRecord(record: MatrixRecord, file = MATRIX_FILE): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/** The markdown of the matrix: one row per workflow, one column per fault, then the invocations' times. */
export function renderTable(record: MatrixRecord): string {
  const cols = record.columns;
  const cell = (r: RowRecord, id: string) => {
    const c = r.cells[id];
    if (!c) return 'not run';
    if (verdictOf(c) === 'n/a') return 'n/a';
    return c.verdict === 'fail' && !c.text.includes('FAIL') ? `**FAIL** ${c.text}` : c.text;
  };
  const counts = { pass: 0, fail: 0, na: 0, notCaught: 0, notRun: 0, runs: 0 };
  for (const r of record.rows)
    for (const c of cols) {
      const x = r.cells[c.id];
      const v = x ? verdictOf(x) : 'not run';
      if (v === 'not run') counts.notRun += 1;
      else if (v === 'n/a') counts.na += 1;
      else if (v === 'not caught') counts.notCaught += 1;
      else if (v === 'fail') counts.fail += 1;
      else counts.pass += 1;
      counts.runs += x?.runs.length ?? 0;
    }
  const inv = (['full', 'ci', 'partial'] as const)
    .map((m) => record.invocations[m])
    .filter((x): x is InvocationRecord => x !== undefined)
    .map(
      (i) =>
        `- last ${i.mode === 'ci' ? 'CI slice (`npm run faults -- --ci`)' : i.mode === 'full' ? 'full matrix (`npm run faults`)' : `partial run (\`npm run faults -- ${i.args.join(' ')}\`)`}: ${i.at}, commit ${i.commit.slice(0, 10)}, ${i.cells} cells, ${i.runs} runs in ${seconds(i.durationSeconds * 1000)} (${i.workerKills} worker SIGKILLs, ${i.temporalRestarts} Temporal, ${i.dockerdRestarts} dockerd and ${i.qdrantRestarts ?? 0} Qdrant restarts), ${i.failures.length} failures`,
    );
  const failures = record.rows.flatMap((r) =>
    cols.flatMap((c) =>
      (r.cells[c.id]?.runs ?? [])
        .filter((x) => x.fail)
        .map((x) => `- ${r.name} × ${c.title}: ${x.fail!.split('\n')[0]}`),
    ),
  );
  return [
    '<!-- generated from docs/fault-matrix.json by `npm run faults:table`; do not edit by hand -->',
    '',
    `${record.rows.length} workflows × ${cols.length} columns: ${counts.pass} cells pass, ${counts.fail} fail, ${counts.na} n/a, ${counts.notCaught} not caught (every step of the cell ended before the fault reached it), ${counts.notRun} not run yet; ${counts.runs} runs recorded.`,
    '',
    `| workflow (system) | ${cols.map((c) => c.title).join(' | ')} |`,
    `| --- | ${cols.map(() => '---').join(' | ')} |`,
    ...record.rows.map((r) => `| ${r.name} (${r.system}) | ${cols.map((c) => cell(r, c.id)).join(' | ')} |`),
    '',
    'Columns: ' +
      cols
        .filter((c) => c.kind !== 'baseline')
        .map((c) => `${c.title} (${c.kind})`)
        .join('; ') +
      '.',
    '',
    ...inv,
    '',
    ...(failures.length ? ['Failures in the last result:', '', ...failures, ''] : []),
  ].join('\n');
}
