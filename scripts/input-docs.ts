// Owns the input tables of docs/scenarios.md: one Markdown table per scenario (field, CLI flag, type,
// required/default, description), generated from the scenario schemas in workflows/scenarios.ts. Prints them, or with
// --write replaces what docs/scenarios.md holds between the markers below (test/unit/scenarios.test.ts fails when it
// is stale or the markers are gone).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../common/tools.ts';
import { REQUIRED_ROLE } from '../common/roles.ts';
import { inputFields, shapeAt, type InputField } from '../workflows/phases/schema.ts';
import { SCENARIOS } from '../workflows/scenarios.ts';

export const BEGIN = '<!-- inputs:begin -->';
export const END = '<!-- inputs:end -->';
export const INPUTS_DOC = join(PROJECT_ROOT, 'docs', 'scenarios.md');

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('\n', ' ');

function type(f: InputField): string {
  switch (f.kind) {
    case 'enum':
      return f.values!.map((v) => `\`${v}\``).join(' \\| ');
    case 'json':
      return 'object (JSON)';
    case 'approver:role':
      return '`{approver, role, comment?}`';
    case 'list':
      return 'list (repeat the flag)';
    default:
      return f.kind;
  }
}

function state(f: InputField): string {
  if (f.alwaysRequired) return 'required';
  if (f.default !== undefined)
    return `default \`${typeof f.default === 'string' ? f.default : JSON.stringify(f.default)}\``;
  if (f.required) return `required with \`${f.path.slice(0, -1).join('.')}\``;
  return 'optional';
}

/** The Markdown between the markers (without them). */
export function inputTables(): string {
  const out = [
    '',
    '_Generated from the scenario schemas by `node --import tsx scripts/input-docs.ts --write`; do not edit by hand._',
  ];
  for (const s of SCENARIOS) {
    out.push(
      '',
      `### \`${s.name}\` — ${s.runbook}`,
      '',
      `${cell(s.summary.charAt(0).toUpperCase() + s.summary.slice(1))}. Workflow type \`${s.workflowType}\`` +
        ('approval' in shapeAt(s.input, []) ? `; approval by \`${REQUIRED_ROLE[s.category]}\` or higher.` : '.'),
      '',
      '| field | CLI flag | type | required / default | description |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const f of inputFields(s.input)) {
      const flag = f.kind === 'boolean' ? `\`--${f.flag}\` / \`--no-${f.flag}\`` : `\`--${f.flag} ${f.value}\``;
      const desc = f.description + (f.example ? ` (e.g. \`${f.example}\`)` : '');
      out.push(`| \`${f.path.join('.')}\` | ${cell(flag)} | ${type(f)} | ${state(f)} | ${cell(desc)} |`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** The page with its block replaced; undefined when it has no markers. */
export function updatedInputsDoc(doc: string): string | undefined {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) return undefined;
  return `${doc.slice(0, a + BEGIN.length)}\n${inputTables()}${doc.slice(b)}`;
}

function main(): void {
  if (!process.argv.includes('--write')) {
    process.stdout.write(`${BEGIN}\n${inputTables()}${END}\n`);
    return;
  }
  const next = updatedInputsDoc(readFileSync(INPUTS_DOC, 'utf8'));
  if (next === undefined) throw new Error(`docs/scenarios.md has no ${BEGIN} ... ${END} block to rewrite`);
  writeFileSync(INPUTS_DOC, next);
  console.log('docs/scenarios.md input tables rewritten');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (err) {
    console.error(err);
    process.exit(1);
  }
}
