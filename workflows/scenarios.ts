// Every scenario the CLI can start, in runbook order. A new scenario adds its defineScenario(...) export here.
import type { Scenario } from './phases/scenario.ts';
import { envFileScenario } from './configuration/env-file.ts';

export const SCENARIOS: readonly Scenario[] = [envFileScenario];
