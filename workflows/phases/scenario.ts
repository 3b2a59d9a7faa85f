// Owns what the CLI, the client and the docs know of a scenario: its name (`cortex-rollback start <name>`), its
// workflow type, where it sits in the runbook, whose approval it needs, its input schema (schema.ts) and its
// business-key workflow id, and the one-line summary the Web UI lists it by. Each scenario file exports one `defineScenario(...)`; workflows/scenarios.ts lists them.
import type { z } from 'zod';
import type { RollbackType } from '../../common/roles.ts';

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
}

export function defineScenario<S extends z.ZodType>(s: Scenario<S>): Scenario<S> {
  return s;
}
