// Owns what the CLI, the client and the docs know of a scenario: its name (`cortex-rollback start <name>`), its
// workflow type, where it sits in the runbook, whose approval it needs, its input schema (schema.ts) and its
// business-key workflow id, and the one-line summary the Web UI lists it by. Each scenario file exports one `defineScenario(...)`; workflows/scenarios.ts lists them.
import type { z } from 'zod';
import type { RollbackType } from '../../common/roles.ts';
import { invalidInput } from './failures.ts';
import type { RollbackNotifications } from './notify.ts';
import type { Progress, RunAttributes } from './progress.ts';
import { parseInput } from './schema.ts';

export interface Scenario<S extends z.ZodType = z.ZodType> {
  /** CLI subcommand, kebab case: `cortex-rollback start system-service`. */
  name: string;
  /** The exported workflow function's name (the Temporal workflow type). */
  workflowType: string;
  /** Runbook category; also decides the approval role (common/roles.ts REQUIRED_ROLE). */
  category: RollbackType;
  /** Where in ../shared/runbook.md, e.g. 'Application Rollback → Scenario 2'. */
  runbook: string;
  /** One line for `--help` and the README. */
  summary: string;
  input: S;
  /** The business key, `rollback-<type>-<target>`: a second rollback of the same target cannot start meanwhile. */
  workflowId(input: z.output<S>): string;
  /** One line for the Web UI's list (the start's staticSummary): what is rolled back to what, e.g.
   * "roll back docker:cortex-mcp → cortex-memory-mcp:v2.0.0"; the approval part is added by startSummary. */
  summarize?(input: z.output<S>): string;
  /**
   * What `cortex-rollback metrics` and the visibility list know the run by (RollbackService, RollbackTargetVersion,
   * RollbackTrigger, RollbackRequestedBy), derived from the valid input; the workflow upserts it once at its start
   * (Progress.publishSearchAttributes) when its input asks for search attributes. null: not a rollback (a backup,
   * a verification, a guard), not counted in the metrics.
   */
  runAttributes: ((input: z.output<S>) => RunAttributes) | null;
}

/** The requester and the reason, which every rollback's input carries (schema.ts whoFields), as the trigger. */
export function who(i: { reason?: string; requestedBy?: string }): Pick<RunAttributes, 'trigger' | 'requestedBy'> {
  return { ...(i.reason ? { trigger: i.reason } : {}), ...(i.requestedBy ? { requestedBy: i.requestedBy } : {}) };
}

export function defineScenario<S extends z.ZodType>(s: Scenario<S>): Scenario<S> {
  return s;
}

/** The run attributes a scenario derives from its valid input (undefined for a run that is not a rollback). */
export function runOf<S extends z.ZodType>(scenario: Scenario<S>, input: z.output<S>): RunAttributes | undefined {
  return scenario.runAttributes?.(input);
}

/**
 * A rollback's opening: the input parsed (an invalid one recorded in the status and thrown as InvalidInput), the
 * run's search attributes when the input asks for them, the 'validate-input' step and the started notification.
 */
export async function openRollback<S extends z.ZodType<{ searchAttributes: boolean }>>(
  progress: Progress,
  scenario: Scenario<S>,
  raw: unknown,
  notifications: RollbackNotifications,
): Promise<z.output<S>> {
  let input: z.output<S>;
  try {
    input = parseInput(scenario.input, raw);
  } catch (err) {
    throw invalidInput(progress, err);
  }
  progress.searchAttributesEnabled = input.searchAttributes;
  progress.publishSearchAttributes(runOf(scenario, input));
  progress.note('validate-input', 'completed');
  await notifications.started(progress, scenario, input);
  return input;
}
