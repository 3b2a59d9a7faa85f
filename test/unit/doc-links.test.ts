// Every relative link in README.md and docs/*.md resolves: the file exists and, for `#anchor`, the target page has a
// heading with that GitHub anchor (lower case, punctuation dropped, spaces as hyphens, `-1`… for repeats).
// Links inside code blocks and inline code are not links; http(s) and mailto links are not checked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';

/** Markdown without fenced blocks and inline code, line structure kept. */
function prose(md: string): string[] {
  let fence = false;
  return md.split('\n').map((line) => {
    if (line.startsWith('```')) {
      fence = !fence;
      return '';
    }
    return fence ? '' : line.replace(/`[^`]*`/g, '``');
  });
}

/** GitHub's anchor for a heading's text. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors a page offers, in GitHub's numbering of repeated headings. */
export function anchorsOf(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fence = false;
  for (const line of md.split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    const h = fence ? null : /^#{1,6} (.+)$/.exec(line);
    if (!h) continue;
    const base = anchorOf(h[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every link target in a page's prose: [text](target). */
export function linksOf(md: string): string[] {
  return prose(md).flatMap((line) => [...line.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!));
}

/** What is wrong with one page's relative links (empty when all resolve). */
export function brokenLinks(file: string): string[] {
  const md = readFileSync(file, 'utf8');
  const wrong: string[] = [];
  for (const target of linksOf(md)) {
    if (/^(https?|mailto):/.test(target)) continue;
    const [path, anchor] = target.split('#', 2) as [string, string | undefined];
    const dest = path === '' ? file : join(dirname(file), decodeURIComponent(path));
    const where = `${relative(PROJECT_ROOT, file)}: (${target})`;
    if (!existsSync(dest)) {
      wrong.push(`${where} → no file ${relative(PROJECT_ROOT, dest)}`);
      continue;
    }
    if (anchor === undefined) continue;
    if (statSync(dest).isDirectory() || !dest.endsWith('.md')) {
      wrong.push(`${where} → an anchor into a file that has no headings`);
      continue;
    }
    if (!anchorsOf(readFileSync(dest, 'utf8')).has(anchor)) wrong.push(`${where} → no heading #${anchor}`);
  }
  return wrong;
}

const pages = [
  join(PROJECT_ROOT, 'README.md'),
  ...readdirSync(join(PROJECT_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(PROJECT_ROOT, 'docs', f)),
];

describe('relative links in README.md and docs/*.md', () => {
  it('computes GitHub anchors, numbers repeated headings, and ignores links in code', () => {
    assert.equal(
      anchorOf('`dockerContainerRollback` (Application → Scenario 1: Docker container)'),
      'dockercontainerrollback-application--scenario-1-docker-container',
    );
    assert.deepEqual([...anchorsOf('# A\n## Tests\n```\n# not a heading\n```\n## Tests\n')], ['a', 'tests', 'tests-1']);
    assert.deepEqual(linksOf('[a](x.md#y) `[b](no.md)`\n```\n[c](no.md)\n```\n[d](#z)'), ['x.md#y', '#z']);
  });

  it('finds a broken file and a broken anchor (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'doc-links-'));
    try {
      const page = join(dir, 'page.md');
      writeFileSync(join(dir, 'other.md'), '# Other\n\n## Real heading\n');
      writeFileSync(
        page,
        '# Page\n\n[ok](other.md#real-heading) [ok](#page) [gone](missing.md) [bad](other.md#no-such-heading) [bad](#nope)\n',
      );
      assert.deepEqual(
        brokenLinks(page).map((w) => w.replace(/^.*: \(/, '(')),
        [
          '(missing.md) → no file ' + relative(PROJECT_ROOT, join(dir, 'missing.md')),
          '(other.md#no-such-heading) → no heading #no-such-heading',
          '(#nope) → no heading #nope',
        ],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const page of pages) {
    it(`${relative(PROJECT_ROOT, page)}: every relative link resolves`, () => {
      assert.deepEqual(brokenLinks(page), []);
    });
  }
});
