// Owns the runbook's "Post-Rollback Verification" (and validate-rollback.sh) as a workflow: startable alone
// (`cortex-rollback start verify ...`) and run as a child by a rollback. Each check reports pass/fail/skipped with
// its figure and the limit it was held to; the checks are read-only and run together. Invariants: a check that
// cannot be made for want of input is `skipped`, never `pass`; any `fail` fails the workflow (VerificationFailed)
// with the full result in the failure's details, so a parent and the CLI see the same figures.
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { invalidInput } from '../phases/failures.ts';
import { quick } from '../phases/profiles.ts';
import { Progress } from '../phases/progress.ts';
import { defineScenario } from '../phases/scenario.ts';
import { bool, checked, int, line, parseInput, scenarioInput, z } from '../phases/schema.ts';
import {
  validateAbsolutePath,
  validateCollectionName,
  validateContainerName,
  validateHttpUrl,
} from '../phases/validation.ts';

/** The runbook's own check commands (Post-Rollback Verification → Functional/Performance Testing). */
export const RUNBOOK_CHECK_SCRIPTS = ['prod:health', 'test:connection', 'perf:gate:ci', 'test:integration:happy'];

const commandInput = scenarioInput({
  name: line(60),
  command: z.array(z.string().min(1)).min(1),
  cwd: checked<string | undefined, string>((v, f) =>
    v === undefined ? undefined : validateAbsolutePath(v, f),
  ).optional(),
  timeoutSeconds: int(1, 3600).default(300),
});

export const postRollbackVerificationInput = scenarioInput({
  service: line(100)
    .default('cortex-mcp')
    .describe('the service verified (in the status and the report)')
    .meta({ value: 'NAME' }),
  healthUrl: checked<string>((v, f) => validateHttpUrl(v, f))
    .describe('http(s) health endpoint of the service')
    .meta({ value: 'URL', example: 'http://127.0.0.1:3000/health' }),
  apiUrl: checked<string | undefined, string>((v, f) => (v === undefined ? undefined : validateHttpUrl(v, f)))
    .optional()
    .describe("base URL of the Cortex memory API (store and find); default: the health URL's origin")
    .meta({ value: 'URL' }),
  memoryApi: bool().default(true).describe('check POST /api/v1/memory/store then /api/v1/memory/find'),
  metricsUrl: checked<string | undefined, string>((v, f) => (v === undefined ? undefined : validateHttpUrl(v, f)))
    .optional()
    .describe('Prometheus /metrics of the service (memory from process_resident_memory_bytes without a container)')
    .meta({ value: 'URL' }),
  container: checked<string | undefined, string>((v, f) => (v === undefined ? undefined : validateContainerName(v, f)))
    .optional()
    .describe("the service's container: memory from docker stats, error lines from docker logs")
    .meta({ value: 'NAME' }),
  logSinceSeconds: int(1, 86400)
    .default(300)
    .describe('how far back the logs are searched for error lines (seconds)')
    .meta({ flag: 'log-since', value: 'S' }),
  qdrant: bool().default(false).describe("check Qdrant's readiness (/readyz on the worker's Qdrant)"),
  collections: z
    .record(
      z.string().transform((c) => validateCollectionName(c, 'collections')),
      int(0, Number.MAX_SAFE_INTEGER),
    )
    .default({})
    .describe('the pre-rollback record: exact point count per collection, e.g. {"memories":1200}')
    .meta({ format: 'json', value: 'JSON' }),
  maxResponseMs: int(1, 60_000)
    .default(1000)
    .describe('response time limit (the runbook: under 1 s)')
    .meta({ value: 'MS' }),
  maxMemoryMb: int(1, 1_000_000)
    .default(2048)
    .describe('memory limit (the runbook: under 2048 MB)')
    .meta({ value: 'MB' }),
  serviceDir: checked<string | undefined, string>((v, f) => (v === undefined ? undefined : validateAbsolutePath(v, f)))
    .optional()
    .describe(`run the runbook's npm scripts there: ${RUNBOOK_CHECK_SCRIPTS.join(', ')}`)
    .meta({ value: 'DIR' }),
  commands: z
    .array(commandInput)
    .max(20)
    .default([])
    .describe('further check commands: [{"name","command":[...],"cwd"?,"timeoutSeconds"?}]')
    .meta({ format: 'json', value: 'JSON' }),
  searchAttributes: bool().default(false).describe('upsert the Rollback* search attributes').meta({ cli: false }),
});

export type PostRollbackVerificationInput = z.input<typeof postRollbackVerificationInput>;

export const postRollbackVerificationScenario = defineScenario({
  name: 'verify',
  workflowType: 'postRollbackVerification',
  category: 'application',
  runbook: 'Post-Rollback Verification (validate-rollback.sh)',
  summary: 'read-only checklist: health, Qdrant, exact counts, memory API, response time, memory, logs, own checks',
  input: postRollbackVerificationInput,
  // help renders the id from the required fields only, where the service is still missing
  summarize: (i) => `verify ${i.service ?? 'the service'} after a rollback (read-only checks)`,
  workflowId: (i: Partial<{ service: string }>) => `verify-${i.service ?? 'cortex-mcp'}`,
  runAttributes: null, // a check after a rollback, not one
});

export type CheckStatus = 'pass' | 'fail' | 'skipped';

export interface VerificationCheck {
  name: string;
  status: CheckStatus;
  /** What was measured, e.g. "HTTP 200 healthy", "34 ms", "1200 points". */
  figure: string;
  /** What it was held to, e.g. "< 1000 ms". */
  limit?: string;
  /** A check command's output (capped). */
  output?: string;
}

export interface VerificationResult {
  service: string;
  passed: boolean;
  checks: VerificationCheck[];
  startedAt: string;
  endedAt: string;
}

export async function postRollbackVerification(raw: PostRollbackVerificationInput): Promise<VerificationResult> {
  const service = typeof raw?.service === 'string' ? raw.service : 'cortex-mcp';
  const progress = new Progress('verification', service);
  let input: z.output<typeof postRollbackVerificationInput>;
  try {
    input = parseInput(postRollbackVerificationInput, raw);
  } catch (err) {
    throw invalidInput(progress, err);
  }
  progress.searchAttributesEnabled = input.searchAttributes;
  progress.publishSearchAttributes();
  progress.setPhase('verifying');
  const startedAt = new Date().toISOString();
  const a = proxyActivities<Activities>(quick);
  const checks: Array<Promise<VerificationCheck[]>> = [];
  const check = (name: string, fn: () => Promise<VerificationCheck[]>) =>
    checks.push(progress.step(name, fn, (cs) => cs.map((c) => `${c.name} ${c.status}: ${c.figure}`).join('; ')));
  const pass = (ok: boolean): CheckStatus => (ok ? 'pass' : 'fail');

  check('check-service', async () => {
    const s = await a.sampleService({
      url: input.healthUrl,
      ...(input.metricsUrl ? { metricsUrl: input.metricsUrl } : {}),
    });
    const health = s.httpStatus ? `HTTP ${s.httpStatus}${s.status ? ` ${s.status}` : ''}` : (s.error ?? 'no answer');
    const out: VerificationCheck[] = [
      { name: 'service-health', status: pass(s.ok), figure: health, limit: '2xx and healthy' },
      {
        name: 'response-time',
        status: s.httpStatus ? pass(s.latencyMs < input.maxResponseMs) : 'fail',
        figure: `${s.latencyMs} ms (health)`,
        limit: `< ${input.maxResponseMs} ms`,
      },
    ];
    if (!input.container) {
      const bytes = s.metrics?.residentBytes;
      out.push(
        bytes === undefined
          ? {
              name: 'memory',
              status: 'skipped',
              figure: input.metricsUrl
                ? `no process_resident_memory_bytes in ${input.metricsUrl}${s.metricsError ? ` (${s.metricsError})` : ''}`
                : 'no container or metrics URL given',
            }
          : memoryCheck(bytes / 1024 / 1024, input.maxMemoryMb, '/metrics'),
      );
    }
    return out;
  });

  if (input.memoryApi) {
    check('check-memory-api', async () => {
      const base = input.apiUrl ?? new URL(input.healthUrl).origin;
      const r = await a.checkMemoryApi({ baseUrl: base, marker: `verify-${workflowInfo().runId}` });
      return [
        {
          name: 'memory-store-find',
          status: pass(r.ok),
          figure: r.error
            ? r.error
            : `store HTTP ${r.storeStatus ?? '-'}, find HTTP ${r.findStatus ?? '-'}, ${r.found} found`,
          limit: 'stored item found',
        },
        {
          name: 'memory-api-response-time',
          status: r.storeStatus ? pass(r.latencyMs < input.maxResponseMs) : 'fail',
          figure: `${r.latencyMs} ms (store + find)`,
          limit: `< ${input.maxResponseMs} ms`,
        },
      ];
    });
  }

  if (input.qdrant || Object.keys(input.collections).length > 0) {
    check('check-qdrant', async () => {
      const ready = await a.qdrantReady({ timeoutSeconds: 10 });
      const out: VerificationCheck[] = [
        {
          name: 'qdrant-ready',
          status: pass(ready.ready),
          figure: ready.status ? `/readyz HTTP ${ready.status}` : `/readyz: ${ready.body}`,
          limit: 'HTTP 200',
        },
      ];
      for (const [collection, expected] of Object.entries(input.collections)) {
        const s = await a.qdrantInspect({ collection });
        out.push({
          name: `data-integrity:${collection}`,
          status: pass(s.exists && s.pointsCount === expected),
          figure: s.exists ? `${s.pointsCount} points` : 'collection missing',
          limit: `exactly ${expected} points (pre-rollback record)`,
        });
      }
      return out;
    });
  }

  if (input.container) {
    const name = input.container;
    check('check-container', async () => {
      const [mem, logs] = await Promise.all([
        a.containerMemory({ container: name }),
        a.containerLogErrors({ container: name, sinceSeconds: input.logSinceSeconds }),
      ]);
      return [
        memoryCheck(mem.usedMb, input.maxMemoryMb, 'docker stats'),
        {
          name: 'log-errors',
          status: pass(logs.errors.length === 0),
          figure: `${logs.errors.length} error line(s) in ${logs.lines} line(s) of the last ${input.logSinceSeconds}s`,
          limit: 'none',
          ...(logs.errors.length ? { output: logs.errors.join('\n') } : {}),
        },
      ];
    });
  }

  const commands = [
    ...(input.serviceDir
      ? RUNBOOK_CHECK_SCRIPTS.map((s) => ({
          name: s,
          command: ['npm', 'run', s],
          cwd: input.serviceDir,
          timeoutSeconds: 300,
        }))
      : []),
    ...input.commands,
  ];
  if (commands.length > 0) {
    check('check-commands', async () => {
      const out: VerificationCheck[] = [];
      // One after another: the service's own suites may load it, which would skew each other's figures.
      for (const c of commands) {
        const run = proxyActivities<Activities>({
          startToCloseTimeout: `${c.timeoutSeconds + 30}s`,
          retry: { maximumAttempts: 1 },
        });
        const r = await run.runCheckCommand({
          name: c.name,
          command: c.command,
          ...(c.cwd ? { cwd: c.cwd } : {}),
          timeoutSeconds: c.timeoutSeconds,
        });
        out.push({
          name: `command:${c.name}`,
          status: pass(r.ok),
          figure: r.timedOut
            ? `timed out after ${c.timeoutSeconds}s`
            : `exit ${r.exitCode ?? '?'} in ${r.durationMs} ms`,
          limit: `exit 0 within ${c.timeoutSeconds}s`,
          output: r.output,
        });
      }
      return out;
    });
  }

  const result: VerificationResult = {
    service: input.service,
    passed: false,
    checks: (await Promise.all(checks)).flat(),
    startedAt,
    endedAt: new Date().toISOString(),
  };
  result.passed = result.checks.every((c) => c.status !== 'fail');
  if (!result.passed) {
    progress.setPhase('verification-failed');
    const failed = result.checks.filter((c) => c.status === 'fail');
    progress.status.error = `post-rollback verification failed: ${failed.map((c) => `${c.name} (${c.figure})`).join('; ')}`;
    throw ApplicationFailure.create({
      type: FailureType.VerificationFailed,
      nonRetryable: true,
      message: progress.status.error,
      details: [result],
    });
  }
  progress.setPhase('completed');
  return result;
}

function memoryCheck(mb: number, limitMb: number, source: string): VerificationCheck {
  return {
    name: 'memory',
    status: mb < limitMb ? 'pass' : 'fail',
    figure: `${Math.round(mb * 10) / 10} MB (${source})`,
    limit: `< ${limitMb} MB`,
  };
}
