// Every scenario the CLI can start, in runbook order. A new scenario adds its defineScenario(...) export here.
import type { Scenario } from './phases/scenario.ts';
import { dockerNetworkScenario } from './infrastructure/docker-network.ts';
import { networkScenario } from './infrastructure/network.ts';

export const SCENARIOS: readonly Scenario[] = [networkScenario, dockerNetworkScenario];
