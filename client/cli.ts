// The `cortex-rollback` CLI: start / plan / scenarios / approve / reject / status / result / report. `start <scenario>`
// takes its flags, their parsing and its --help from the scenario's input schema (workflows/scenarios.ts): a new
// scenario needs no code here. Exit codes: 0 a successful rollback (or a start without --wait, or a sent
// decision); 1 the rollback failed; 2 bad usage or input (nothing started), or a decision the workflow refused
// (approve/reject go through the `decide` update: nothing recorded); 3 not approved (rejected or timed out); 4 a
// rollback of that target is already running; 5 no Temporal server answers (the message names the address tried
// and what to run).
// `plan <scenario>` (a dry run, workflow planRollback) takes the same flags; `start` puts the same plan into the
// rollback's Web UI details. plan exits 0 with a plan, 2 on bad input or a scenario without a plan, 1 when a read
// fails.
import { parseArgs } from 'node:util';
import { ConfigError } from '../common/config.ts';
import { parseSince, renderMetrics, rollbackMetrics } from './metrics.ts';
import { buildReport, reportMarkdown } from './report.ts';
import { REQUIRED_ROLE } from '../common/roles.ts';
import { InputError, onlyKnownFields, show } from '../workflows/phases/validation.ts';
import type { Scenario } from '../workflows/phases/scenario.ts';
import { inputFields, parseInput, shapeAt, type InputField } from '../workflows/phases/schema.ts';
import { SCENARIOS } from '../workflows/scenarios.ts';
import { guardStatusQuery, pauseSignal, resumeSignal } from '../workflows/triggers/guard.ts';
import { fleetAbortSignal, type FleetRollbackResult } from '../workflows/application/fleet.ts';
import type { RollbackStatus } from '../workflows/phases/progress.ts';
import { approvalLine } from '../workflows/phases/approval.ts';
import { PLANNED_SCENARIOS } from '../workflows/plans/index.ts';
import type { Plan } from '../workflows/phases/plan.ts';
import {
  AlreadyRunningError,
  assertPlanned,
  NoPlanError,
  PlanFailedError,
  planRollback,
  startMetadata,
  ServerUnreachableError,
  scheduleQdrantBackups,
  startWorkflow,
  connect,
  decide,
  DecisionRefusedError,
  getStatus,
  sendConfirm,
  waitResult,
  type ResultOrFailure,
  type RollbackClient,
} from './client.ts';

class UsageError extends Error {}

/** An operator waiting at a terminal: a server that does not answer within 5 s is not coming (exit 5). */
const connectCli = () => connect(undefined, { connectTimeoutMs: 5000 });

/**
 * Old subcommand names: a scenario, preset input fields, and a flag that switches to another scenario
 * (`qdrant-recovery --at T` was always a point-in-time recovery).
 */
const LEGACY: Record<string, { scenario: string; preset?: Record<string, unknown>; switchOn?: [string, string] }> = {
  docker: { scenario: 'docker-container' },
  'qdrant-verify': { scenario: 'qdrant-backup', preset: { mode: 'verify' } },
  'qdrant-recovery': { scenario: 'qdrant-data-recovery', switchOn: ['at', 'qdrant-point-in-time'] },
};

/** Flags every `start` takes besides its scenario's own. */
const START_FLAGS = {
  'workflow-id': { type: 'string' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  'no-plan': { type: 'boolean' },
} as const;

const OTHER_COMMANDS = `  cortex-rollback plan <scenario> <the flags of start> [--json]   (a dry run: read-only steps only, nothing changes)
  cortex-rollback scenarios                      (what start can start, with the runbook place of each)
  cortex-rollback schedule backup --collection C (--every 6h | --cron '0 */6 * * *') [--host H]
  cortex-rollback approve WORKFLOW_ID --approver WHO --role ROLE [--comment TEXT] [--plan-id ID (a Terraform plan)]
  cortex-rollback reject  WORKFLOW_ID --approver WHO --role ROLE --reason TEXT
  cortex-rollback confirm WORKFLOW_ID --by WHO [--comment TEXT]   (a network rollback's dead-man switch)
  cortex-rollback status  WORKFLOW_ID [--json]
  cortex-rollback pause   guard-SERVICE --by WHO [--reason TEXT]   (a rollbackGuard stops sampling)
  cortex-rollback resume  guard-SERVICE --by WHO                    (samples again, every window from zero)
  cortex-rollback pause|resume rollback-fleet-NAME --by WHO         (a fleet holds / goes on starting targets)
  cortex-rollback abort   rollback-fleet-NAME --by WHO [--reason TEXT]   (no new target; then halt as --on-failure says)
  cortex-rollback guard-status guard-SERVICE [--json]              (rules, current windows, triggers)
  cortex-rollback result  WORKFLOW_ID [--json]
  cortex-rollback report  WORKFLOW_ID [--json]   (the runbook's Rollback Report Template, Markdown or JSON)
  cortex-rollback metrics [--since 30d] [--json] (MTTR, success rate, counts by type vs the runbook's targets)
exit codes: 0 ok, 1 rollback failed, 2 bad usage or input, 3 not approved, 4 already running, 5 no server answers
environment: TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), TEMPORAL_TASK_QUEUE (cortex-rollback)`;

function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}

function flagUsage(f: InputField): string {
  return f.kind === 'boolean' ? `--${f.flag}` : `--${f.flag} ${f.value}`;
}

/** The usage text, generated from the registry: one line per scenario with its required flags. */
export function usage(): string {
  const lines = SCENARIOS.map((s) => {
    const required = inputFields(s.input)
      .filter((f) => f.alwaysRequired)
      .map(flagUsage);
    return `  cortex-rollback start ${s.name} ${required.join(' ')} [options]`;
  });
  const legacy = Object.entries(LEGACY).map(([old, l]) => `${old} = ${l.scenario}`);
  return [
    'usage:',
    ...lines,
    `  (every start also takes --workflow-id ID, --wait, --json, --no-plan; 'cortex-rollback start <scenario> --help' lists its`,
    `   options; old names: ${legacy.join(', ')})`,
    OTHER_COMMANDS,
  ].join('\n');
}

/** `start <scenario> --help`: the runbook place, the summary and every flag with its description and default. */
export function scenarioHelp(s: Scenario): string {
  const fields = inputFields(s.input);
  const sample = Object.fromEntries(fields.filter((f) => f.required).map((f) => [f.path.at(-1)!, `<${f.flag}>`]));
  let id: string;
  try {
    id = s.workflowId(sample);
  } catch {
    id = '(from the input)';
  }
  const rows = fields.map((f) => {
    const state = f.alwaysRequired
      ? 'required'
      : f.default !== undefined
        ? `default ${typeof f.default === 'string' ? f.default : JSON.stringify(f.default)}`
        : f.required
          ? `required with --${fields.find((o) => o.path[0] === f.path[0] && o !== f)?.flag ?? f.path[0]}`
          : 'optional';
    const neg = f.kind === 'boolean' ? ` (--no-${f.flag})` : '';
    return [`  ${flagUsage(f)}${neg}`, state, f.description + (f.example ? ` (e.g. ${f.example})` : '')];
  });
  const w = Math.max(...rows.map((r) => r[0]!.length)) + 2;
  const ws = Math.max(...rows.map((r) => r[1]!.length)) + 2;
  const old = Object.entries(LEGACY)
    .filter(([, l]) => l.scenario === s.name || l.switchOn?.[1] === s.name)
    .map(([n]) => n);
  return [
    `cortex-rollback start ${s.name} — ${s.runbook}`,
    `  ${s.summary}`,
    `  workflow ${s.workflowType}, id ${id}` +
      ('approval' in shapeAt(s.input, [])
        ? `; approval by ${REQUIRED_ROLE[s.category]} or higher (${s.category} rollback)`
        : '') +
      (old.length ? `; also started as: ${old.join(', ')}` : ''),
    '',
    ...rows.map((r) => `${r[0]!.padEnd(w)}${r[1]!.padEnd(ws)}${r[2]}`),
    '',
    '  --workflow-id ID, --wait (stream phases and steps, then the result), --json, --no-plan (no dry-run plan in ' +
      "the Web UI's details): every start",
  ].join('\n');
}

function scenarioList(): string {
  const w = Math.max(...SCENARIOS.map((s) => s.name.length)) + 2;
  const t = Math.max(...SCENARIOS.map((s) => s.workflowType.length)) + 2;
  return SCENARIOS.map(
    (s) => `${s.name.padEnd(w)}${s.workflowType.padEnd(t)}${s.runbook}\n${' '.repeat(w + t)}${s.summary}`,
  ).join('\n');
}

function setAt(o: Record<string, unknown>, path: string[], v: unknown): void {
  let cur = o;
  for (const k of path.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path.at(-1)!] = v;
}

function flagValue(f: InputField, v: string): unknown {
  switch (f.kind) {
    case 'integer':
      if (!/^\d{1,15}$/.test(v)) throw new UsageError(`--${f.flag} must be a whole number, got ${show(v)}`);
      return Number(v);
    case 'json':
      try {
        return JSON.parse(v) as unknown;
      } catch (err) {
        throw new UsageError(`--${f.flag} is not JSON: ${(err as Error).message}`);
      }
    case 'approver:role': {
      const m = /^(.+):([^:]+)$/.exec(v); // the role is after the last colon (approvers may contain one)
      if (!m) throw new UsageError(`--${f.flag} takes APPROVER:ROLE, got ${show(v)}`);
      return { approver: m[1]!, role: m[2]! };
    }
    default:
      return v;
  }
}

export interface StartRequest {
  scenario: Scenario;
  input: Record<string, unknown>;
  workflowId: string;
  flags: { wait: boolean; json: boolean; help: boolean; noPlan: boolean };
}

/**
 * `start <scenario> [flags]` → the scenario, its input (validated by its schema: an InputError names the field)
 * and its business-key workflow ID. Every flag comes from the scenario's schema; a flag it does not have is
 * refused, never ignored.
 */
export function startFromArgs(argv: string[]): StartRequest {
  const [name, ...rest] = argv;
  const legacy = LEGACY[name ?? ''];
  let scenario = findScenario(legacy?.scenario ?? name ?? '');
  if (!scenario)
    throw new UsageError(
      `unknown scenario '${name ?? ''}' (${[...SCENARIOS.map((s) => s.name), ...Object.keys(LEGACY)].join(', ')})`,
    );
  const switchOn = legacy?.switchOn;
  if (switchOn && rest.some((a) => a === `--${switchOn[0]}` || a.startsWith(`--${switchOn[0]}=`)))
    scenario = findScenario(switchOn[1])!;
  const fields = inputFields(scenario.input);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    ...START_FLAGS,
  };
  for (const f of fields) {
    options[f.flag] = {
      type: f.kind === 'boolean' ? 'boolean' : 'string',
      ...(f.kind === 'list' ? { multiple: true } : {}),
    };
    if (f.kind === 'boolean') options[`no-${f.flag}`] = { type: 'boolean' };
  }
  const { values, tokens } = parseArgs({ args: rest, options, strict: false, allowPositionals: true, tokens: true });
  const where = `'start ${name ?? ''}'${scenario.name === name ? '' : ` (${scenario.name})`}`;
  for (const t of tokens) {
    if (t.kind === 'positional') throw new UsageError(`unexpected argument ${show(t.value)} to ${where}`);
    if (t.kind !== 'option' || t.name in options) continue;
    const elsewhere = SCENARIOS.some((s) => inputFields(s.input).some((f) => f.flag === t.name));
    const near = Object.keys(options).find((o) => o !== 'h' && similar(o, t.name));
    throw new UsageError(
      elsewhere
        ? `--${t.name} does not apply to ${where}`
        : `unknown flag --${t.name} for ${where}${near ? ` (did you mean --${near}?)` : ''}`,
    );
  }
  const flags = {
    wait: values.wait === true,
    json: values.json === true,
    help: values.help === true,
    noPlan: values['no-plan'] === true,
  };
  const input: Record<string, unknown> = structuredClone(legacy?.preset ?? {});
  if (flags.help) return { scenario, input, workflowId: '', flags };
  for (const f of fields) {
    const v = values[f.flag];
    if (f.kind === 'boolean') {
      if (v === true) setAt(input, f.path, true);
      if (values[`no-${f.flag}`] === true) setAt(input, f.path, false);
      continue;
    }
    if (v === undefined) continue;
    if (f.kind === 'list') {
      if (!Array.isArray(v) || v.some((e) => typeof e !== 'string')) throw new UsageError(`--${f.flag} needs a value`);
      setAt(input, f.path, v);
      continue;
    }
    if (typeof v !== 'string') throw new UsageError(`--${f.flag} needs a value`);
    setAt(input, f.path, flagValue(f, v));
  }
  for (const f of fields) {
    const given = f.path.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], input);
    if (f.alwaysRequired && given === undefined) throw new UsageError(`--${f.flag} is required`);
  }
  if ('searchAttributes' in shapeAt(scenario.input, [])) {
    input.searchAttributes = process.env.CORTEX_SEARCH_ATTRIBUTES !== '0';
  }
  const valid = parseInput(scenario.input, input);
  const workflowId = typeof values['workflow-id'] === 'string' ? values['workflow-id'] : scenario.workflowId(valid);
  return { scenario, input, workflowId, flags };
}

/** A flag one typo away (a swapped, missing, extra or wrong letter). */
function similar(a: string, b: string): boolean {
  try {
    onlyKnownFields({ [b]: 1 }, [a]);
    return true;
  } catch (err) {
    return err instanceof InputError && err.message.includes('did you mean');
  }
}

const options = {
  approver: { type: 'string' },
  by: { type: 'string' },
  role: { type: 'string' },
  comment: { type: 'string' },
  'plan-id': { type: 'string' },
  reason: { type: 'string' },
  collection: { type: 'string' },
  every: { type: 'string' },
  cron: { type: 'string' },
  host: { type: 'string' },
  json: { type: 'boolean' },
  since: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function need(v: string | undefined, flag: string): string {
  if (!v) throw new UsageError(`--${flag} is required`);
  return v;
}

function parse(argv: string[]) {
  return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
}

/** Streams phase and step changes to stderr until the workflow closes. */
async function follow(rc: RollbackClient, workflowId: string): Promise<void> {
  const seen = new Set<string>();
  let phase = '';
  const handle = rc.client.workflow.getHandle(workflowId);
  let done = false;
  const closed = handle.result().then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    try {
      const s = await getStatus(rc, workflowId);
      if (s.phase !== phase) {
        phase = s.phase;
        process.stderr.write(`[${new Date().toISOString()}] phase: ${phase}\n`);
        if (s.pendingApproval) {
          process.stderr.write(
            `  waiting for approval by a ${s.pendingApproval.requiredRole} (or higher) until ${s.pendingApproval.deadline}:\n` +
              `  cortex-rollback approve ${workflowId} --approver <you> --role ${s.pendingApproval.requiredRole}\n`,
          );
        }
        if (s.waitingFor) {
          process.stderr.write(
            `  waiting for '${s.waitingFor.signal}' until ${s.waitingFor.deadline} (${s.waitingFor.what}):\n` +
              `  cortex-rollback ${s.waitingFor.signal} ${workflowId} --by <you>\n`,
          );
        }
      }
      for (const step of s.steps) {
        const key = `${step.name}|${step.startedAt}|${step.state}`;
        if (step.state === 'running' || seen.has(key)) continue;
        seen.add(key);
        process.stderr.write(`  ${step.state.padEnd(9)} ${step.name}${step.detail ? `: ${step.detail}` : ''}\n`);
      }
    } catch {
      // the workflow may be closing; the result below tells
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  }
}

/** A fleet's running children's own phases (their status queries), by child workflow id. */
async function childPhases(rc: RollbackClient, s: RollbackStatus): Promise<Map<string, string>> {
  const running = (s.fleet?.targets ?? []).filter((t) => t.phase === 'running' || t.phase === 'reverting');
  const phases = await Promise.all(
    running.map((t) =>
      getStatus(rc, t.childWorkflowId).then(
        (c) => [t.childWorkflowId, c.phase] as const,
        () => [t.childWorkflowId, '?'] as const,
      ),
    ),
  );
  return new Map(phases);
}

function printStatus(s: RollbackStatus, json: boolean, children?: Map<string, string>): void {
  if (json) {
    console.log(JSON.stringify(children?.size ? { ...s, childPhases: Object.fromEntries(children) } : s, null, 2));
    return;
  }
  console.log(`${s.workflowId} (${s.workflowType}, ${s.rollbackType} rollback of ${s.target})`);
  console.log(`phase: ${s.phase}${s.error ? `\nerror: ${s.error}` : ''}`);
  const p = s.pendingApproval;
  if (p) {
    console.log(
      `waiting for: ${p.approverRoles ? p.approverRoles.join(' or ') : p.requiredRole} until ${p.deadline}` +
        `${p.contact ? ` (asked: ${p.contact})` : ''}${p.escalated ? ` — ESCALATED, also: ${(p.alsoMayDecide ?? []).join(', ')}` : ''}`,
    );
  }
  if (s.approvalPolicy) {
    console.log(`approval policy: ${s.approvalPolicy.path} (sha256 ${s.approvalPolicy.sha256.slice(0, 12)})`);
  }
  if (s.waitingFor) {
    console.log(
      `waiting for: signal '${s.waitingFor.signal}' until ${s.waitingFor.deadline} (${s.waitingFor.what}): ` +
        `cortex-rollback ${s.waitingFor.signal} ${s.workflowId} --by <you>`,
    );
  }
  for (const st of s.steps) {
    // the time the step reached its state: an approval step shows when the decision came
    console.log(
      `  ${st.endedAt ?? st.startedAt}  ${st.state.padEnd(9)} ${st.name}${st.detail ? `: ${st.detail}` : ''}`,
    );
  }
  for (const a of s.approvals) console.log(`  approval: ${approvalLine(a)}`);
  if (s.monitoring) {
    const m = s.monitoring;
    console.log(
      `  watch: ${m.samples} samples, ${m.failures} failed, ${m.consecutiveFailures} in a row, ` +
        `${m.alerts !== undefined ? `${m.alerts} alert(s), ` : ''}ends ${m.endsAt}`,
    );
  }
  const f = s.fleet;
  if (f) {
    console.log(
      `fleet ${f.name} → ${f.targetImage}: ${f.targets.length} targets, max ${f.maxConcurrency} at once, ` +
        `errors ${f.errors}/${f.maxErrors} (${f.errorBudgetLeft} left), on failure ${f.onFailure}` +
        `${f.paused ? `, PAUSED by ${f.paused.by}` : ''}${f.aborted ? `, ABORTED by ${f.aborted.by}` : ''}`,
    );
    for (const w of f.waves) console.log(`  wave ${w.name} (${w.spec}, ${w.targets}): ${w.state}`);
    if (f.nextWave) console.log(`  next wave ${f.nextWave.name} not before ${f.nextWave.notBefore}`);
    for (const t of f.targets) {
      console.log(
        `  ${t.phase.padEnd(17)} ${t.host}/${t.container} [${t.wave}]` +
          `${children?.has(t.childWorkflowId) ? ` (${children.get(t.childWorkflowId)})` : ''}` +
          ` ${t.startedAt ?? ''}${t.endedAt ? ` → ${t.endedAt}` : ''}` +
          `${t.detail ? ` — ${t.detail}` : ''}${t.revert?.detail ? ` — revert: ${t.revert.detail}` : ''}`,
      );
    }
  }
}

function report(r: ResultOrFailure, json: boolean): number {
  if (json) console.log(JSON.stringify(r, null, 2));
  if (!r.ok) {
    if (!json) console.error(`rollback FAILED (${r.type}): ${r.message}`);
    return 1;
  }
  const fleet = r.result as unknown as Partial<FleetRollbackResult>;
  if (Array.isArray(fleet.targets)) {
    if (!json) {
      console.log(`${fleet.outcome}: fleet ${fleet.name} → ${fleet.targetImage} (${fleet.workflowId})`);
      for (const t of fleet.targets)
        console.log(`  ${t.phase.padEnd(17)} ${t.host}/${t.container}${t.detail ? ` — ${t.detail}` : ''}`);
    }
    // errors within the budget: the fleet finished its plan, but not every target is rolled back
    return fleet.outcome === 'succeeded' ? 0 : fleet.outcome === 'completed-with-errors' ? 1 : 3;
  }
  if (!('container' in r.result)) {
    // a Qdrant workflow: outcome (or a backup manifest) and the rest as JSON
    const other = r.result as unknown as { outcome?: string };
    if (!json) console.log(JSON.stringify(other, null, 2));
    return other.outcome === undefined || other.outcome === 'succeeded' || other.outcome === 'already-on-target'
      ? 0
      : 3;
  }
  const res = r.result;
  if (!json) {
    console.log(`${res.outcome}: ${res.container} ${res.from.image} -> ${res.to.image} (${res.workflowId})`);
    if (res.verification) console.log(`  verified healthy after ${res.verification.attempts} probe(s)`);
    if (res.monitoring) {
      console.log(
        `  watched ${res.monitoring.durationSeconds}s: ${res.monitoring.samples} samples, ${res.monitoring.failures} failed`,
      );
    }
  }
  if (res.outcome === 'succeeded' || res.outcome === 'already-on-target') return 0;
  return 3;
}

/** What `plan` prints: exactly the started rollback's static summary and details (the Web UI's). */
export function planText(meta: { staticSummary: string; staticDetails: string }): string {
  return `${meta.staticSummary}\n\n${meta.staticDetails}`;
}

export async function run(argv: string[]): Promise<number> {
  let rc: RollbackClient | undefined;
  let json = argv.includes('--json');
  try {
    if (argv[0] === 'start') {
      if (argv.length === 1 || argv[1] === '--help' || argv[1] === '-h') {
        console.log(`${usage()}\n\nscenarios:\n${scenarioList()}`);
        return argv.length === 1 ? 2 : 0;
      }
      const req = startFromArgs(argv.slice(1));
      if (req.flags.help) {
        console.log(scenarioHelp(req.scenario));
        return 0;
      }
      json = req.flags.json;
      rc = await connectCli();
      // The Web UI's details carry the same plan `cortex-rollback plan` prints; a plan that fails or is not there
      // yet does not hold the rollback up (the rollback's own steps report what the plan would have).
      let plan: Plan | undefined;
      if (!req.flags.noPlan && PLANNED_SCENARIOS.includes(req.scenario.name)) {
        try {
          plan = (await planRollback(rc, req.scenario.name, req.input, { timeoutSeconds: 60 })).plan;
        } catch (err) {
          process.stderr.write(
            `no plan in the Web UI's details: ${err instanceof Error ? err.message : String(err)}\n`,
          );
        }
      }
      const started = await startWorkflow(rc, req.scenario.workflowType, req.input, req.workflowId, {
        ...(plan ? { plan } : {}),
      });
      if (!req.flags.wait) {
        console.log(json ? JSON.stringify(started) : `started ${started.workflowId} (run ${started.runId})`);
        return 0;
      }
      process.stderr.write(`started ${started.workflowId} (run ${started.runId})\n`);
      await follow(rc, started.workflowId);
      return report(await waitResult(rc, started.workflowId), json);
    }
    if (argv[0] === 'plan') {
      if (argv.length === 1 || argv[1] === '--help' || argv[1] === '-h') {
        console.log(
          `usage: cortex-rollback plan <scenario> <the flags of 'start <scenario>'> [--json]\n` +
            `  a dry run: runs only the read-only steps and prints the ordered steps, the approvals needed, the backups ` +
            `taken (with the newest existing one's age and size), the expected downtime and warnings. Nothing changes.\n` +
            `  plans exist for: ${PLANNED_SCENARIOS.join(', ')}`,
        );
        return argv.length === 1 ? 2 : 0;
      }
      const named = findScenario(LEGACY[argv[1] ?? '']?.scenario ?? argv[1] ?? '');
      if (named) assertPlanned(named.name); // before the flags: a scenario without a plan says so at once
      const req = startFromArgs(argv.slice(1));
      if (req.flags.help) {
        console.log(scenarioHelp(req.scenario).replace(/^cortex-rollback start /, 'cortex-rollback plan '));
        return 0;
      }
      if (req.flags.wait) throw new UsageError('--wait does not apply to plan (a plan always runs to its end)');
      json = req.flags.json;
      rc = await connectCli();
      const { plan, planWorkflowId } = await planRollback(rc, req.scenario.name, req.input);
      const meta = startMetadata(req.scenario.workflowType, req.input, req.workflowId, plan);
      console.log(
        json ? JSON.stringify({ planWorkflowId, workflowId: req.workflowId, ...meta, plan }, null, 2) : planText(meta),
      );
      return 0;
    }
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(argv);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const { values: v, positionals: p } = parsed;
    if (v.help || p.length === 0) {
      console.log(usage());
      return v.help ? 0 : 2;
    }
    json = v.json === true;
    const [cmd, arg] = p;
    switch (cmd) {
      case 'scenarios': {
        console.log(
          json
            ? JSON.stringify(
                SCENARIOS.map((s) => ({
                  name: s.name,
                  workflowType: s.workflowType,
                  category: s.category,
                  runbook: s.runbook,
                  summary: s.summary,
                })),
                null,
                2,
              )
            : scenarioList(),
        );
        return 0;
      }
      case 'schedule': {
        if (arg !== 'backup') throw new UsageError(`unknown schedule '${arg ?? ''}' (supported: backup)`);
        rc = await connectCli();
        const r = await scheduleQdrantBackups(rc, {
          collection: need(v.collection, 'collection'),
          ...(v.every ? { every: v.every } : {}),
          ...(v.cron ? { cron: v.cron } : {}),
          ...(v.host ? { host: v.host } : {}),
        });
        console.log(
          json
            ? JSON.stringify(r)
            : r.created
              ? `schedule ${r.scheduleId} created`
              : `schedule ${r.scheduleId} already exists and was left unchanged (temporal schedule update/delete --schedule-id ${r.scheduleId})`,
        );
        return 0;
      }
      case 'approve':
      case 'reject': {
        const id = need(arg, 'WORKFLOW_ID');
        const approver = need(v.approver, 'approver');
        const role = need(v.role, 'role');
        rc = await connectCli();
        const planId = v['plan-id'];
        const text = cmd === 'approve' ? v.comment : need(v.reason, 'reason');
        const sent = await decide(rc, id, {
          decision: cmd,
          approver,
          role,
          ...(text ? { comment: text } : {}),
          ...(planId ? { planId } : {}),
        });
        const r = sent.record;
        console.log(
          json
            ? JSON.stringify({ sent: cmd, workflowId: id, via: sent.via, ...(r ? { record: r } : {}) })
            : r
              ? `${r.decision} by ${r.approver} (${r.role}) — recorded by ${id}`
              : `${cmd} sent to ${id} (signal: this rollback started before the approval policy)`,
        );
        return 0;
      }
      case 'confirm': {
        const id = need(arg, 'WORKFLOW_ID');
        const by = need(v.by, 'by');
        rc = await connectCli();
        await sendConfirm(rc, id, { by, ...(v.comment ? { comment: v.comment } : {}) });
        console.log(json ? JSON.stringify({ sent: 'confirm', workflowId: id }) : `confirm sent to ${id}`);
        return 0;
      }
      case 'pause':
      case 'resume':
      case 'abort': {
        const id = need(arg, 'WORKFLOW_ID');
        const by = need(v.by, 'by');
        rc = await connect();
        const h = rc.client.workflow.getHandle(id);
        // pause/resume: a rollbackGuard's or a fleet's (same signal names and payload)
        const why = v.reason ? { reason: v.reason } : {};
        await (cmd === 'pause'
          ? h.signal(pauseSignal, { by, ...why })
          : cmd === 'resume'
            ? h.signal(resumeSignal, { by })
            : h.signal(fleetAbortSignal, { by, ...why }));
        console.log(json ? JSON.stringify({ sent: cmd, workflowId: id }) : `${cmd} sent to ${id}`);
        return 0;
      }
      case 'guard-status': {
        rc = await connect();
        const s = await rc.client.workflow.getHandle(need(arg, 'WORKFLOW_ID')).query(guardStatusQuery);
        if (json) console.log(JSON.stringify(s, null, 2));
        else {
          const w = s.windows;
          console.log(
            [
              `${s.service}: ${s.paused ? `PAUSED by ${s.pausedBy ?? '?'}` : 'watching'} (${s.mode}), ${s.samplesTotal} samples, run ${s.runs}`,
              `  health failures ${w.consecutiveHealthFailures}/${w.healthFailuresToTrigger}`,
              `  error rate above ${s.rules.errorRatePercent}%: ${w.errorRate.samplesAbove}/${w.errorRate.samplesToTrigger} samples (last ${w.errorRate.lastPercent ?? '-'}%)`,
              `  response time above ${s.rules.latencyMs} ms: ${w.responseTime.samplesAbove}/${w.responseTime.samplesToTrigger} samples (last ${w.responseTime.lastMs ?? '-'} ms)`,
              ...s.triggers.map(
                (t) =>
                  `  trigger #${t.sample} ${t.at} ${t.kind}: ${t.action}${t.rollbackWorkflowId ? ` ${t.rollbackWorkflowId}` : ''}`,
              ),
            ].join('\n'),
          );
        }
        return 0;
      }
      case 'status': {
        rc = await connectCli();
        const s = await getStatus(rc, need(arg, 'WORKFLOW_ID'));
        printStatus(s, json, s.fleet ? await childPhases(rc, s) : undefined);
        return 0;
      }
      case 'report': {
        const id = need(arg, 'WORKFLOW_ID');
        rc = await connectCli();
        const status = await getStatus(rc, id);
        const rep = buildReport(status, await waitResult<unknown>(rc, id));
        console.log(json ? JSON.stringify(rep, null, 2) : reportMarkdown(rep));
        return 0;
      }
      case 'metrics': {
        const since = v.since ?? '30d';
        let ms: number;
        try {
          ms = parseSince(since);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        rc = await connectCli();
        const m = await rollbackMetrics(rc, ms);
        console.log(json ? JSON.stringify(m, null, 2) : renderMetrics(m));
        return 0;
      }
      case 'result': {
        rc = await connectCli();
        return report(await waitResult(rc, need(arg, 'WORKFLOW_ID')), json);
      }
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (err) {
    if (
      err instanceof UsageError ||
      err instanceof InputError ||
      err instanceof ConfigError ||
      err instanceof DecisionRefusedError
    ) {
      console.error(`${err.message}${err instanceof UsageError ? `\n${usage()}` : ''}`);
      return 2;
    }
    if (err instanceof NoPlanError) {
      console.error(err.message);
      return 2;
    }
    if (err instanceof PlanFailedError) {
      console.error(`plan FAILED (${err.type}): ${err.message}`);
      return 1;
    }
    if (err instanceof AlreadyRunningError) {
      console.error(err.message);
      return 4;
    }
    if (err instanceof ServerUnreachableError) {
      console.error(err.message);
      return 5;
    }
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await rc?.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
