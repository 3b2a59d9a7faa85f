// docs/runbook-coverage.md stays current: every heading and numbered step of the runbook (../shared/runbook.md)
// has its row under the same heading, and every workflow, step, activity and test file the document names exists.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';

const RUNBOOK = join(PROJECT_ROOT, '..', 'shared', 'runbook.md');
const DOC = join(PROJECT_ROOT, 'docs', 'runbook-coverage.md');

/** A heading's text without the runbook's leading emoji (stored mis-encoded: letters like ü, so only ASCII counts). */
const headingText = (line: string): string =>
  line
    .replace(/^#+\s*/, '')
    .replace(/^[^A-Za-z0-9]+/, '')
    .trim();

interface RunbookSection {
  level: number;
  title: string;
  steps: string[];
}

/** Headings (## and ###) outside code blocks, and the numbered `# N. step` lines inside them. */
export function runbookSections(text: string): RunbookSection[] {
  const sections: RunbookSection[] = [];
  let fence = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) {
      fence = !fence;
      continue;
    }
    const h = /^(#{2,3}) /.exec(line);
    if (!fence && h) sections.push({ level: h[1]!.length, title: headingText(line), steps: [] });
    const step = fence ? /^# (\d+\.\s.+)$/.exec(line) : null;
    if (step && sections.length) sections.at(-1)!.steps.push(step[1]!.trim());
  }
  return sections;
}

/** The document's sections: heading → its table rows as cells. */
function docSections(text: string): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  let rows: string[][] | undefined;
  for (const line of text.split('\n')) {
    const h = /^(#{2,3}) (.+)$/.exec(line);
    if (h) {
      rows = [];
      out.set(`${h[1]!.length} ${h[2]!.trim()}`, rows);
      continue;
    }
    if (!rows || !line.startsWith('|') || /^\|\s*(runbook|---)/.test(line)) continue;
    rows.push(
      line
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    );
  }
  return out;
}

const ticks = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

function sources(dir: string): string {
  return readdirSync(join(PROJECT_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(PROJECT_ROOT, dir, f), 'utf8'))
    .join('\n');
}

describe('docs/runbook-coverage.md', () => {
  const runbook = runbookSections(readFileSync(RUNBOOK, 'utf8'));
  const doc = docSections(readFileSync(DOC, 'utf8'));

  it('reads the runbook: its sections and numbered steps', () => {
    assert.ok(runbook.length >= 35, `only ${runbook.length} sections in ${RUNBOOK}`);
    assert.ok(runbook.reduce((n, s) => n + s.steps.length, 0) >= 100);
  });

  it('has every runbook heading, a row under each leaf section, and every numbered step as a row under its heading', () => {
    const missing: string[] = [];
    for (const [i, s] of runbook.entries()) {
      const hasSubsections = (runbook[i + 1]?.level ?? 0) > s.level;
      const rows = doc.get(`${s.level} ${s.title}`);
      if (!rows) {
        missing.push(`${'#'.repeat(s.level)} ${s.title}`);
        continue;
      }
      if (rows.length === 0 && !hasSubsections) missing.push(`a row under ${s.title}`);
      for (const step of s.steps) {
        if (!rows.some((r) => r[0] === step)) missing.push(`${s.title}: ${step}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('names only workflows, steps, activities and tests that exist; "not automated" says why', () => {
    const workflowTypes = new Set(
      [...readFileSync(join(PROJECT_ROOT, 'workflows', 'index.ts'), 'utf8').matchAll(/export \{ (\w+) \}/g)].map(
        (m) => m[1]!,
      ),
    );
    const workflowCode = sources('workflows');
    const activityCode = sources('activities');
    const wrong: string[] = [];
    let rows = 0;
    for (const [title, table] of doc) {
      for (const [what, wf, act, test] of table) {
        rows += 1;
        assert.ok(test !== undefined, `${title}: a row without four cells: ${what}`);
        if (/not automated/.test(wf!) && !/not automated( yet)?: \S.{10,}/.test(wf!))
          wrong.push(`${title} / ${what}: "not automated" without a reason`);
        for (const t of ticks(wf!)) {
          const known =
            workflowTypes.has(t) ||
            workflowCode.includes(`'${t}'`) ||
            workflowCode.includes(`\`${t}\``) ||
            workflowCode.includes(`"${t}"`);
          if (!known) wrong.push(`${title} / ${what}: no workflow or step ${t}`);
        }
        for (const t of ticks(act!)) {
          if (!new RegExp(`\\b(async ${t}\\(|${t}: async)`).test(activityCode))
            wrong.push(`${title} / ${what}: no activity ${t}`);
        }
        for (const t of ticks(test)) {
          if (!existsSync(join(PROJECT_ROOT, t))) wrong.push(`${title} / ${what}: no test file ${t}`);
        }
      }
    }
    assert.ok(rows > 120, `${rows} rows`);
    assert.deepEqual(wrong, []);
  });
});
