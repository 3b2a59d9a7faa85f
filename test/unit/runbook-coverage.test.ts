// docs/runbook-coverage.md stays current: every heading and numbered step of the runbook (../shared/runbook.md)
// has its row under the same heading; every scenario of workflows/scenarios.ts has a row; a row names workflow types
// that are registered, step names that occur in that workflow's own code (its file and the workflows/ modules it
// imports), activities that exist, and tests by file and title that exist — or says why not. The rules a row follows
// are at the top of the document.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { SCENARIOS } from '../../workflows/scenarios.ts';

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

/** Backticked names in a cell, outside parentheses (a parenthesis comments; a name in it is not checked). */
export function ticks(cell: string): string[] {
  const out: string[] = [];
  let depth = 0;
  for (let i = 0; i < cell.length; i++) {
    const c = cell[i]!;
    if (c === '`') {
      const end = cell.indexOf('`', i + 1);
      if (end < 0) break;
      if (depth === 0) out.push(cell.slice(i + 1, end));
      i = end;
    } else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
  }
  return out;
}

/** `file` "title" pairs of a test cell; a backticked file without a title has title undefined. */
export function testRefs(cell: string): { file: string; title?: string }[] {
  return [...cell.matchAll(/`([^`]+)`(?:\s*"([^"]+)")?/g)].map((m) => ({
    file: m[1]!,
    ...(m[2] !== undefined ? { title: m[2] } : {}),
  }));
}

/** The titles of the tests (it/test/describe) a test file declares as plain string literals. */
export function testTitles(source: string): string[] {
  return [...source.matchAll(/\b(?:it|test|describe)\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g)].map((m) =>
    m[2]!.replace(/\\(.)/g, '$1'),
  );
}

/** Whether a title in the document names one of the file's tests: equal, or its start when it ends in '…'. */
export function namesTest(titles: string[], title: string): boolean {
  return title.endsWith('…') ? titles.some((t) => t.startsWith(title.slice(0, -1))) : titles.includes(title);
}

const WORKFLOWS = join(PROJECT_ROOT, 'workflows');

/** Workflow type → the file that defines it, from workflows/index.ts. */
function workflowFiles(): Map<string, string> {
  const index = readFileSync(join(WORKFLOWS, 'index.ts'), 'utf8');
  return new Map(
    [...index.matchAll(/export \{ (\w+) \} from '(\.[^']+)'/g)].map((m) => [m[1]!, resolve(WORKFLOWS, m[2]!)]),
  );
}

/** A workflow file and every workflows/ module it imports, transitively: the code its steps can come from. */
export function workflowCode(file: string): string {
  const seen = new Set<string>();
  const todo = [file];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f) || !existsSync(f)) continue;
    seen.add(f);
    for (const m of readFileSync(f, 'utf8').matchAll(/from '(\.\.?\/[^']+)'/g)) {
      const next = resolve(dirname(f), m[1]!);
      if (!relative(WORKFLOWS, next).startsWith('..')) todo.push(next);
    }
  }
  return [...seen].map((f) => readFileSync(f, 'utf8')).join('\n');
}

/** Whether the code spells `name` as a string literal ('…', "…" or `…`). */
const spells = (code: string, name: string): boolean =>
  code.includes(`'${name}'`) || code.includes(`"${name}"`) || code.includes(`\`${name}\``);

function sources(dir: string): string {
  return readdirSync(join(PROJECT_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(PROJECT_ROOT, dir, f), 'utf8'))
    .join('\n');
}

const REASON = (what: string) => new RegExp(`^${what}: \\S.{10,}`);

/**
 * What is wrong with the document's rows (empty when every row holds), and the workflow types the rows name.
 * `doc` is the document's sections as docSections returns them.
 */
export function checkRows(doc: Map<string, string[][]>): { wrong: string[]; named: Set<string>; rows: number } {
  const files = workflowFiles();
  const code = new Map<string, string>();
  const codeOf = (type: string) => {
    if (!code.has(type)) code.set(type, workflowCode(files.get(type)!));
    return code.get(type)!;
  };
  const activityCode = sources('activities');
  const titles = new Map<string, string[]>();
  const titlesOf = (file: string) => {
    if (!titles.has(file)) titles.set(file, testTitles(readFileSync(join(PROJECT_ROOT, file), 'utf8')));
    return titles.get(file)!;
  };
  const wrong: string[] = [];
  const named = new Set<string>();
  let rows = 0;
  for (const [title, table] of doc) {
    for (const [what, wf, act, test] of table) {
      rows += 1;
      const row = `${title} / ${what}`;
      if (test === undefined) {
        wrong.push(`${row}: a row without four cells`);
        continue;
      }
      const notAutomated = /^not automated/.test(wf!);
      const outside = /^not a workflow step/.test(wf!);
      if (notAutomated && !REASON('not automated( yet)?').test(wf!)) wrong.push(`${row}: "not automated" without why`);
      if (outside && !REASON('not a workflow step').test(wf!)) wrong.push(`${row}: "not a workflow step" without why`);
      if (!notAutomated && !outside) {
        let any = false;
        for (const segment of wf!.split(';')) {
          const [type, ...steps] = ticks(segment);
          if (type === undefined) continue;
          if (!files.has(type)) {
            wrong.push(`${row}: ${type} is not a registered workflow type (workflows/index.ts)`);
            continue;
          }
          any = true;
          named.add(type);
          for (const step of steps) if (!spells(codeOf(type), step)) wrong.push(`${row}: ${type} has no step ${step}`);
        }
        if (!any) wrong.push(`${row}: names no workflow type, and does not say "not automated: <why>"`);
      }
      for (const t of ticks(act!)) {
        if (!new RegExp(`\\b(async ${t}\\(|${t}: async)`).test(activityCode)) wrong.push(`${row}: no activity ${t}`);
      }
      const refs = testRefs(test);
      const untested = REASON('not tested').test(test);
      if (!untested && !refs.some((r) => r.title !== undefined))
        wrong.push(`${row}: names no test by file and title, and does not say "not tested: <why>"`);
      for (const r of refs) {
        if (!existsSync(join(PROJECT_ROOT, r.file))) {
          wrong.push(`${row}: no test file ${r.file}`);
          continue;
        }
        if (r.title === undefined) wrong.push(`${row}: ${r.file} without the title of a test in it`);
        else if (!namesTest(titlesOf(r.file), r.title)) wrong.push(`${row}: ${r.file} has no test "${r.title}"`);
      }
    }
  }
  return { wrong, named, rows };
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

  it('names only workflow types, steps of that workflow, activities and tests (file and title) that exist', () => {
    const { wrong, rows } = checkRows(doc);
    assert.ok(rows > 120, `${rows} rows`);
    assert.deepEqual(wrong, []);
  });

  it('has a row for every scenario of workflows/scenarios.ts, and for the dry-run plans', () => {
    const { named } = checkRows(doc);
    const missing = [...SCENARIOS.map((s) => s.workflowType), 'planRollback'].filter((t) => !named.has(t));
    assert.deepEqual(missing, []);
  });

  it('fails on a stale row: a step, a test title, a test file or a scenario that is not there', () => {
    const row = (wf: string, test: string) =>
      new Map([['3 Scenario 1', [['1. Identify current version', wf, '`inspectContainer`', test]]]]);
    const good =
      '`test/integration/docker-rollback.int.test.ts` "a rollback of a container that does not exist fails and starts nothing"';
    assert.deepEqual(checkRows(row('`dockerContainerRollback` · `assess-current-container`', good)).wrong, []);
    assert.deepEqual(checkRows(row('`dockerContainerRollback` · `assess-the-container`', good)).wrong, [
      '3 Scenario 1 / 1. Identify current version: dockerContainerRollback has no step assess-the-container',
    ]);
    assert.deepEqual(checkRows(row('`kubernetesRollback` · `assess-current-container`', good)).wrong, [
      '3 Scenario 1 / 1. Identify current version: kubernetesRollback has no step assess-current-container',
    ]);
    assert.deepEqual(
      checkRows(
        row('`dockerContainerRollback` · `monitor`', '`test/integration/docker-rollback.int.test.ts` "no such test"'),
      ).wrong,
      [
        '3 Scenario 1 / 1. Identify current version: test/integration/docker-rollback.int.test.ts has no test "no such test"',
      ],
    );
    assert.deepEqual(checkRows(row('`dockerContainerRollback` · `monitor`', '`test/unit/gone.test.ts` "x"')).wrong, [
      '3 Scenario 1 / 1. Identify current version: no test file test/unit/gone.test.ts',
    ]);
    assert.deepEqual(checkRows(row('`dockerContainerRollback`', '—')).wrong, [
      '3 Scenario 1 / 1. Identify current version: names no test by file and title, and does not say "not tested: <why>"',
    ]);
    assert.deepEqual(checkRows(row('`dockerRollback` · `monitor`', good)).wrong, [
      '3 Scenario 1 / 1. Identify current version: dockerRollback is not a registered workflow type (workflows/index.ts)',
      '3 Scenario 1 / 1. Identify current version: names no workflow type, and does not say "not automated: <why>"',
    ]);
    const { named } = checkRows(row('`dockerContainerRollback` · `monitor`', good));
    assert.ok(!named.has('fleetRollback'), 'a document without the fleet row misses the fleet scenario');
  });

  it('reads ticks outside parentheses, test references and titles the way the document writes them', () => {
    assert.deepEqual(ticks('`a` · `b (c)` (`not`, `checked`) · `d`'), ['a', 'b (c)', 'd']);
    assert.deepEqual(testRefs('`f.ts` "t one"; `g.ts` "t two…"; `h.ts`'), [
      { file: 'f.ts', title: 't one' },
      { file: 'g.ts', title: 't two…' },
      { file: 'h.ts' },
    ]);
    const titles = testTitles(`it('it\\'s one', () => {}); it("two", async (t) => {}); test(\`three\`, () => {})`);
    assert.deepEqual(titles, ["it's one", 'two', 'three']);
    assert.ok(namesTest(titles, 'thr…') && !namesTest(titles, 'thr'));
  });
});
