// Owns rollbackGuard's input, declared once (type, validation, CLI flags, README table), and its scenario entry.
// Kept apart from the workflow because the workflow looks rollback scenarios up in the registry, which lists this
// scenario: the registry imports this file, the workflow imports both (no import circle).
import { checked, int, bool, oneOf, scenarioInput, z } from '../phases/schema.ts';
import { defineScenario } from '../phases/scenario.ts';
import { validateHttpUrl } from '../phases/validation.ts';
import { RUNBOOK_RULES } from './rules.ts';

/** At most this many samples in the longest window (the evidence is carried across continue-as-new). */
export const MAX_WINDOW_SAMPLES = 1000;

const SERVICE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

export const guardInput = scenarioInput({
  service: z
    .string({ error: 'is required (a service name)' })
    .regex(SERVICE, { error: 'must be 1-63 letters, digits, _ . - (starting with a letter or digit)' })
    .describe('the watched service; the guard runs as workflow guard-<service>, one per service')
    .meta({ value: 'NAME', example: 'cortex-mcp' }),
  healthUrl: checked<string>((v, f) => validateHttpUrl(v, f))
    .describe('its health endpoint (2xx and a healthy JSON status count as healthy)')
    .meta({ value: 'URL', example: 'http://127.0.0.1:3000/health' }),
  metricsUrl: checked<string | undefined, string>((v, f) => (v === undefined ? undefined : validateHttpUrl(v, f)))
    .optional()
    .describe('its Prometheus metrics endpoint')
    .meta({ value: 'URL', defaultText: 'the health URL with /metrics for /health' }),
  intervalSeconds: int(1, 3600)
    .default(RUNBOOK_RULES.intervalSeconds)
    .describe('seconds between samples (durable timer)')
    .meta({ flag: 'interval', value: 'S' }),
  healthFailures: int(0, 1000)
    .default(RUNBOOK_RULES.healthFailures)
    .describe('trigger on MORE than this many consecutive failed health checks')
    .meta({ value: 'N' }),
  errorRatePercent: z
    .number({ error: 'must be a number from 0 to 100' })
    .min(0, { error: 'must be a number from 0 to 100' })
    .max(100, { error: 'must be a number from 0 to 100' })
    .default(RUNBOOK_RULES.errorRatePercent)
    .describe('trigger when the error rate stays above this percentage for the error window')
    .meta({ value: 'PCT' }),
  errorWindowSeconds: int(1, 86400)
    .default(RUNBOOK_RULES.errorWindowSeconds)
    .describe('how long the error rate must stay above the threshold (seconds)')
    .meta({ value: 'S' }),
  latencyMs: int(1, 3600_000)
    .default(RUNBOOK_RULES.latencyMs)
    .describe('trigger when the mean response time stays above this (ms) for the latency window')
    .meta({ value: 'MS' }),
  latencyWindowSeconds: int(1, 86400)
    .default(RUNBOOK_RULES.latencyWindowSeconds)
    .describe('how long the response time must stay above the threshold (seconds)')
    .meta({ value: 'S' }),
  dbFailures: bool()
    .default(RUNBOOK_RULES.dbFailures)
    .describe(
      'trigger at once on a database connection failure (cortex_db_connection_up 0 or its error counter grows)',
    ),
  mode: oneOf(['rollback', 'alert-only'], "must be 'rollback' or 'alert-only'")
    .default('rollback')
    .describe('on a trigger: start the rollback and notify, or only notify'),
  rollback: z
    .object(
      {
        scenario: z.string({ error: 'must name a scenario (cortex-rollback scenarios)' }),
        input: z.record(z.string(), z.unknown(), { error: 'must be the rollback input (a JSON object)' }),
      },
      { error: 'must be {"scenario": NAME, "input": {...}}' },
    )
    .strict()
    .optional()
    .describe('the rollback a trigger starts: {"scenario": "docker-container", "input": {...}} (the trigger is added)')
    .meta({ format: 'json', value: 'JSON' }),
  samplesPerRun: int(10, 5000)
    .default(500)
    .describe('samples before the guard continues as new (bounded history; windows carried over)')
    .meta({ value: 'N' }),
  carried: z.unknown().optional().describe('state carried over continue-as-new').meta({ cli: false }),
}).superRefine((i, ctx) => {
  for (const [w, f] of [
    [i.errorWindowSeconds, 'errorWindowSeconds'],
    [i.latencyWindowSeconds, 'latencyWindowSeconds'],
  ] as const) {
    if (w / i.intervalSeconds > MAX_WINDOW_SAMPLES)
      ctx.addIssue({
        code: 'custom',
        path: [f],
        message: `${w}s at ${i.intervalSeconds}s is more than ${MAX_WINDOW_SAMPLES} samples`,
      });
  }
  if (i.mode === 'rollback' && !i.rollback)
    ctx.addIssue({ code: 'custom', path: ['rollback'], message: "is required unless mode is 'alert-only'" });
});

export type GuardInput = z.input<typeof guardInput>;
export type ValidGuardInput = z.output<typeof guardInput>;

/** One guard per service. */
export const guardWorkflowId = (service: string): string => `guard-${service}`;

export const guardScenario = defineScenario({
  name: 'guard',
  workflowType: 'rollbackGuard',
  category: 'application',
  runbook: 'Rollback Triggers → Automatic Triggers',
  summary: 'watch a service (health, error rate, response time, database) and start its rollback on a trigger',
  input: guardInput,
  summarize: (i) =>
    `guard ${i.service}: start its rollback on the runbook's triggers${i.mode === 'alert-only' ? ' (alert only)' : ''}`,
  workflowId: (i) => guardWorkflowId(i.service),
  runAttributes: null, // a watch that starts rollbacks (each counted itself), not one
});
