// Owns the workflow bundle: built once per content hash of the workflow sources and cached under .data/bundles,
// so a replacement worker starts in about a second instead of re-running webpack. Two variants: the plain one, and
// the one for workers with a codec, whose failures carry message and stack trace encoded (common/failure-converter.ts);
// either replays every history (decoding reads encoded attributes whenever they are there).
import { bundleWorkflowCode } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAILURE_CONVERTER_PATH } from '../common/codec.ts';
import { PROJECT_ROOT } from '../common/tools.ts';

export const WORKFLOWS_PATH = join(PROJECT_ROOT, 'workflows', 'index.ts');
/** Workflow interceptors: activity summaries for the Web UI. */
export const WORKFLOW_INTERCEPTORS = [join(PROJECT_ROOT, 'workflows', 'phases', 'summaries.ts')];
const SOURCE_DIRS = ['workflows', 'common'];

function sourceHash(): string {
  const h = createHash('sha256');
  // the SDK is bundled too: a new @temporalio/workflow version means a new bundle
  h.update(readFileSync(join(PROJECT_ROOT, 'node_modules', '@temporalio', 'workflow', 'package.json')));
  for (const dir of SOURCE_DIRS) {
    // recursive: scenarios live in subfolders (workflows/application/, workflows/phases/, ...)
    for (const f of readdirSync(join(PROJECT_ROOT, dir), { recursive: true, encoding: 'utf8' }).sort()) {
      if (!f.endsWith('.ts')) continue;
      h.update(`${dir}/${f}\0`).update(readFileSync(join(PROJECT_ROOT, dir, f)));
    }
  }
  return h.digest('hex').slice(0, 16);
}

export async function workflowBundle(opts: { encodeFailures?: boolean } = {}): Promise<{ codePath: string }> {
  const dir = join(PROJECT_ROOT, '.data', 'bundles');
  const codePath = join(dir, `workflows-${sourceHash()}${opts.encodeFailures ? '-encoded-failures' : ''}.js`);
  if (!existsSync(codePath)) {
    const { code } = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      workflowInterceptorModules: WORKFLOW_INTERCEPTORS,
      ...(opts.encodeFailures ? { failureConverterPath: FAILURE_CONVERTER_PATH } : {}),
      logger: quietLogger,
    });
    mkdirSync(dir, { recursive: true });
    const tmp = `${codePath}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, codePath); // atomic: concurrent workers never read half a bundle
  }
  return { codePath };
}

const noop = (): void => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
