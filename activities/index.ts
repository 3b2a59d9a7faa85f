// Owns the assembly of all activities from injected clients. Workflows see only `type Activities`.
import type Dockerode from 'dockerode';
import { createDockerActivities } from './docker.ts';
import { createHealthActivities } from './health.ts';
import type { CommandRunner } from './command.ts';
import { createComposeActivities } from './compose.ts';
import { createIptablesActivities } from './iptables.ts';
import { createQdrantActivities, type QdrantDeps } from './qdrant.ts';

export interface ActivityDeps {
  docker: Dockerode;
  qdrant: QdrantDeps;
  /** Runs host programs (iptables, docker compose); default: execa. */
  run?: CommandRunner;
  /** Where network rollbacks keep their backups on this host; default .data/backups/network. */
  networkBackupRoot?: string;
}

export function createActivities(deps: ActivityDeps) {
  const hostDeps = {
    ...(deps.run ? { run: deps.run } : {}),
    ...(deps.networkBackupRoot ? { backupRoot: deps.networkBackupRoot } : {}),
  };
  return {
    ...createDockerActivities({ docker: deps.docker }),
    ...createHealthActivities(),
    ...createQdrantActivities(deps.qdrant),
    ...createIptablesActivities(hostDeps),
    ...createComposeActivities(hostDeps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ContainerSnapshot, ImageInfo, RunResult, RunSpec } from './docker.ts';
export type { HealthSample, HealthWait } from './health.ts';
export type {
  ComposeBackup,
  ComposeCheck,
  ComposeContainer,
  ComposeFileInfo,
  ComposeState,
  ExpectedNetwork,
} from './compose.ts';
export type { NetworkHealth, RestoredRules, RulesBackup, RulesState, TargetRules } from './iptables.ts';
export type { BackupManifest, CarriedSettings, CollectionState, QdrantDeps, VectorParams } from './qdrant.ts';
