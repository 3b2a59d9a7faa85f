// Every scenario the CLI can start, in runbook order. A new scenario adds its defineScenario(...) export here.
import type { Scenario } from './phases/scenario.ts';
import { dockerContainerScenario } from './application/docker-container.ts';
import { systemServiceScenario } from './application/system-service.ts';
import { kubernetesScenario } from './application/kubernetes.ts';
import { fleetScenario } from './application/fleet.ts';
import { qdrantBackupScenario } from './database/qdrant-backup.ts';
import { qdrantDataRecoveryScenario } from './database/data-recovery.ts';
import { qdrantSchemaScenario } from './database/schema.ts';
import { pointInTimeScenario } from './database/point-in-time.ts';
import { envFileScenario } from './configuration/env-file.ts';
import { qdrantConfigScenario } from './configuration/qdrant-config.ts';
import { terraformScenario } from './infrastructure/terraform.ts';
import { networkScenario } from './infrastructure/network.ts';
import { dockerNetworkScenario } from './infrastructure/docker-network.ts';
import { postRollbackVerificationScenario } from './verification/post-rollback.ts';
import { dataCorruptionScenario } from './emergency/data-corruption.ts';
import { securityBreachScenario } from './emergency/security-breach.ts';
import { emergencyRollbackScenario } from './emergency/emergency-rollback.ts';
import { guardScenario } from './triggers/guard-input.ts';

export const SCENARIOS: readonly Scenario[] = [
  dockerContainerScenario,
  systemServiceScenario,
  kubernetesScenario,
  fleetScenario,
  qdrantBackupScenario,
  qdrantDataRecoveryScenario,
  qdrantSchemaScenario,
  pointInTimeScenario,
  envFileScenario,
  qdrantConfigScenario,
  terraformScenario,
  networkScenario,
  dockerNetworkScenario,
  postRollbackVerificationScenario,
  dataCorruptionScenario,
  securityBreachScenario,
  emergencyRollbackScenario,
  guardScenario,
];
