// Owns the assembly of all activities from injected clients. Workflows see only `type Activities`.
import type Dockerode from 'dockerode';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDockerActivities } from './docker.ts';
import { createEnvFileActivities, createEnvFileDockerActivities } from './envfile.ts';
import { createGuardActivities } from './guard.ts';
import { createHealthActivities } from './health.ts';
import { createKubernetesActivities, execaKubectl, type Kubectl } from './kubernetes.ts';
import { createNotifyActivities, type NotifySettings } from './notify.ts';
import { createQdrantActivities, type QdrantDeps } from './qdrant.ts';
import { createReleaseActivities } from './release.ts';
import { createSystemdActivities, type CommandRunner } from './systemd.ts';
import { createTerraformActivities, type TerraformDeps } from './terraform.ts';

export interface ActivityDeps {
  docker: Dockerode;
  qdrant: QdrantDeps;
  terraform: TerraformDeps;
  /** Runs host commands (systemctl, journalctl, git, tar, builds); default: execa. */
  run?: CommandRunner;
  /** kubectl in the worker's environment (KUBECONFIG) unless injected. */
  kubectl?: Kubectl;
  /** Notification channels (worker configuration); none configured unless given. */
  notify?: NotifySettings;
}

/**
 * What a host worker (workers/host.ts, on the host) serves: systemd, releases, env files, host-local health, and
 * Terraform (plan files and state backups stay on the host that planned).
 */
export function createHostActivities(deps: { run?: CommandRunner; terraform: TerraformDeps }) {
  return {
    ...createSystemdActivities(deps.run ? { run: deps.run } : {}),
    ...createReleaseActivities(deps.run ? { run: deps.run } : {}),
    ...createHealthActivities(),
    ...createGuardActivities(),
    ...createEnvFileActivities(),
    ...createTerraformActivities(deps.terraform),
  };
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createDockerActivities({ docker: deps.docker }),
    ...createEnvFileDockerActivities({ docker: deps.docker }),
    ...createQdrantActivities(deps.qdrant),
    ...createHostActivities({ ...(deps.run ? { run: deps.run } : {}), terraform: deps.terraform }),
    ...createKubernetesActivities({ kubectl: deps.kubectl ?? execaKubectl() }),
    ...createNotifyActivities(deps.notify ?? { stateDir: join(tmpdir(), 'cortex-rollback-notify') }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type HostActivities = ReturnType<typeof createHostActivities>;
export type { ContainerSnapshot, ImageInfo, RunResult, RunSpec } from './docker.ts';
export type { ConnectionCheck, ContainerEnv, EnvFileInfo, EnvKeyDigest, EnvProblem } from './envfile.ts';
export type { GuardCounters, ServiceSample } from './guard.ts';
export type { HealthSample, HealthWait } from './health.ts';
export type { ChannelOutcome, NotifyEvent, NotifyInput, NotifyResult, NotifySettings } from './notify.ts';
export type { DeploymentCheck, KubePlan, RolloutWait, UndoResult } from './kubernetes.ts';
export type { BackupManifest, CarriedSettings, CollectionState, QdrantDeps, VectorParams } from './qdrant.ts';
export type { Checkout, CommandRun, ReleaseBackup, ReleaseState, RemoteTag, Swap } from './release.ts';
export type { CommandResult, CommandRunner, RestartResult, UnitState } from './systemd.ts';
export type {
  ApplyResult,
  CommitInfo,
  PlanResult,
  PlanSummary,
  StateBackup,
  StateRef,
  TerraformDeps,
  Verification,
} from './terraform.ts';
