// Owns every Docker Engine side effect of a container rollback, through an injected dockerode client.
// Invariant: every activity is idempotent — it first looks for its own earlier effect (by container name, id
// and the run-id label) and does not repeat it, so a retry after a worker crash is safe. Nothing here ever
// removes a container it cannot prove it created (run-id label) or preserved (expected id).
import type Dockerode from 'dockerode';
import { FailureType } from '../common/failures.ts';
import { dockerFailure, isStatus, permanent } from './failures.ts';
import { withHeartbeat } from './heartbeat.ts';

export const RUN_ID_LABEL = 'cortex-rollback.run-id';
export const WORKFLOW_ID_LABEL = 'cortex-rollback.workflow-id';
export const ROLLED_BACK_FROM_LABEL = 'cortex-rollback.rolled-back-from';

/** What is needed to run another image "with the same configuration" as an existing container. */
export interface RunSpec {
  /** Env the operator set; the old image's own ENV defaults are left out so the new image's apply. */
  env: string[];
  /** Only when the container overrode its image's command / entrypoint. */
  cmd?: string[];
  entrypoint?: string[];
  user?: string;
  workingDir?: string;
  exposedPorts: Record<string, object>;
  portBindings: Record<string, Array<{ HostIp?: string; HostPort?: string }>>;
  binds: string[];
  mounts: Array<{ Type?: string; Source?: string; Target?: string; ReadOnly?: boolean }>;
  networkMode: string;
  /** User-defined networks and their aliases (the default ones come with networkMode). */
  networks: Record<string, { aliases: string[] }>;
  /** Labels the operator set; the old image's labels are left out. */
  labels: Record<string, string>;
  restartPolicy: { Name: string; MaximumRetryCount?: number };
  extraHosts: string[];
}

export interface ContainerSnapshot {
  id: string;
  name: string;
  image: string;
  imageId: string;
  running: boolean;
  state: string;
  startedAt: string;
  restartPolicy: string;
  spec: RunSpec;
}

/** A fleet rollback's container health URL, as a label on the container (carried over by every rollback). */
export const HEALTH_URL_LABEL = 'cortex.health-url';

/** A container a label selector found (read-only listing). */
export interface LabelledContainer {
  name: string;
  id: string;
  image: string;
  running: boolean;
  /** The container's HEALTH_URL_LABEL, when it has one. */
  healthUrl?: string;
}

export interface ImageInfo {
  ref: string;
  id: string;
  created: string;
  version?: string;
  pulled: boolean;
}

export interface RunResult {
  id: string;
  imageId: string;
  reused: boolean;
}

const DEFAULT_NETWORKS = new Set(['bridge', 'host', 'none', 'default']);

export function createDockerActivities({ docker }: { docker: Dockerode }) {
  async function inspectOrUndefined(name: string): Promise<Dockerode.ContainerInspectInfo | undefined> {
    try {
      return await docker.getContainer(name).inspect();
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw dockerFailure(err, `inspect container '${name}'`);
    }
  }

  async function imageConfig(idOrRef: string): Promise<Dockerode.ImageInspectInfo | undefined> {
    try {
      return await docker.getImage(idOrRef).inspect();
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw dockerFailure(err, `inspect image '${idOrRef}'`);
    }
  }

  /** Starts a stopped container; already running (or 304) is success. Returns whether it had to start it. */
  async function ensureRunning(c: Dockerode.ContainerInspectInfo, label: string): Promise<boolean> {
    if (c.State.Running) return false;
    try {
      await docker.getContainer(c.Id).start();
    } catch (err) {
      if (!isStatus(err, 304)) throw dockerFailure(err, `start '${label}'`);
    }
    return true;
  }

  /** The preserved container must not come back by itself (dockerd restart) and fight the new one for its ports. */
  async function noRestart(id: string, label: string): Promise<void> {
    await setRestartPolicy(id, { Name: 'no' }, label);
  }

  async function setRestartPolicy(id: string, policy: RunSpec['restartPolicy'], label: string): Promise<void> {
    try {
      await docker.getContainer(id).update({ RestartPolicy: policy });
    } catch (err) {
      throw dockerFailure(err, `set the restart policy of '${label}'`);
    }
  }

  /** Force-removes a container by id; already gone is success. */
  async function forceRemove(id: string, label: string): Promise<void> {
    try {
      await docker.getContainer(id).remove({ force: true });
    } catch (err) {
      if (!isStatus(err, 404)) throw dockerFailure(err, `remove '${label}'`);
    }
  }

  return {
    /** Read-only: the containers on this host carrying `label` (`key` or `key=value`), oldest name order. */
    async listLabelledContainers({ label }: { label: string }): Promise<LabelledContainer[]> {
      let list: Dockerode.ContainerInfo[];
      try {
        list = await docker.listContainers({ all: true, filters: { label: [label] } });
      } catch (err) {
        throw dockerFailure(err, `list containers labelled '${label}'`);
      }
      return list
        .map((c) => ({
          name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
          id: c.Id,
          image: c.Image,
          running: c.State === 'running',
          ...(c.Labels?.[HEALTH_URL_LABEL] ? { healthUrl: c.Labels[HEALTH_URL_LABEL] } : {}),
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
    },

    /** Impact assessment: the container's image, state and the configuration needed to recreate it. */
    async inspectContainer({ name }: { name: string }): Promise<ContainerSnapshot> {
      const c = await inspectOrUndefined(name);
      if (!c) throw permanent(FailureType.NotFound, `container '${name}' does not exist on this host`);
      const img = await imageConfig(c.Image);
      return { ...summarize(c), spec: runSpecOf(c, img) };
    },

    /** The target image must exist locally (or be pullable when asked); a missing one is permanent. */
    async findImage({ ref, pull }: { ref: string; pull?: boolean }): Promise<ImageInfo> {
      let img = await imageConfig(ref);
      let pulled = false;
      if (!img && pull) {
        await withHeartbeat(async () => {
          try {
            const stream = await docker.pull(ref);
            await new Promise<void>((resolve, reject) =>
              docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())),
            );
          } catch (err) {
            throw isStatus(err, 404)
              ? permanent(FailureType.NotFound, `image '${ref}' is not in its registry`)
              : dockerFailure(err, `pull image '${ref}'`);
          }
        });
        pulled = true;
        img = await imageConfig(ref);
      }
      if (!img) {
        throw permanent(
          FailureType.NotFound,
          `target image '${ref}' does not exist on this host${pull ? ' and could not be pulled' : ''}; ` +
            `build or pull it first (nothing was changed)`,
        );
      }
      const version = img.Config?.Labels?.['org.opencontainers.image.version'];
      return { ref, id: img.Id, created: img.Created, pulled, ...(version ? { version } : {}) };
    },

    /** Keeps the current container restorable by renaming it (Docker allows this while it runs). */
    async preserveContainer(a: {
      name: string;
      preservedName: string;
      expectedId: string;
    }): Promise<{ renamed: boolean }> {
      return withHeartbeat(async () => {
        const [preserved, current] = await Promise.all([
          inspectOrUndefined(a.preservedName),
          inspectOrUndefined(a.name),
        ]);
        if (preserved) {
          if (preserved.Id === a.expectedId) {
            await noRestart(a.expectedId, a.preservedName); // an earlier attempt renamed it, maybe not this
            return { renamed: false };
          }
          throw permanent(
            FailureType.Conflict,
            `'${a.preservedName}' exists but is not the container being rolled back`,
          );
        }
        if (!current)
          throw permanent(FailureType.Conflict, `container '${a.name}' disappeared before it was preserved`);
        if (current.Id !== a.expectedId) {
          throw permanent(
            FailureType.Conflict,
            `container '${a.name}' was replaced by someone else during the rollback`,
          );
        }
        try {
          await docker.getContainer(a.expectedId).rename({ name: a.preservedName });
        } catch (err) {
          throw dockerFailure(err, `rename '${a.name}' to '${a.preservedName}'`);
        }
        await noRestart(a.expectedId, a.preservedName);
        return { renamed: true };
      });
    },

    /** Stops a container with an explicit grace period; already stopped is success. */
    async stopContainer({
      name,
      timeoutSeconds,
    }: {
      name: string;
      timeoutSeconds: number;
    }): Promise<{ stopped: boolean }> {
      return withHeartbeat(async () => {
        const c = await inspectOrUndefined(name);
        if (!c) throw permanent(FailureType.NotFound, `container '${name}' does not exist`);
        if (!c.State.Running) return { stopped: false };
        try {
          await docker.getContainer(c.Id).stop({ t: timeoutSeconds });
        } catch (err) {
          if (!isStatus(err, 304)) throw dockerFailure(err, `stop '${name}'`);
        }
        return { stopped: true };
      });
    },

    async startContainer({ name, expectedId }: { name: string; expectedId?: string }): Promise<{ started: boolean }> {
      return withHeartbeat(async () => {
        const c = await inspectOrUndefined(name);
        if (!c) throw permanent(FailureType.NotFound, `container '${name}' does not exist`);
        if (expectedId && c.Id !== expectedId) {
          throw permanent(
            FailureType.Conflict,
            `container '${name}' is not the expected one (${expectedId.slice(0, 12)})`,
          );
        }
        return { started: await ensureRunning(c, name) };
      });
    },

    /** Runs `image` under `name` with `spec`, labelled with the run id; finds and reuses its own earlier run. */
    async runContainer(a: {
      name: string;
      image: string;
      spec: RunSpec;
      runId: string;
      workflowId: string;
      rolledBackFrom: string;
    }): Promise<RunResult> {
      return withHeartbeat(async () => {
        const [target, found] = await Promise.all([imageConfig(a.image), inspectOrUndefined(a.name)]);
        if (!target) throw permanent(FailureType.NotFound, `target image '${a.image}' does not exist on this host`);
        let existing = found;
        if (existing && existing.Config.Labels?.[RUN_ID_LABEL] !== a.runId) {
          throw permanent(
            FailureType.Conflict,
            `a container named '${a.name}' already exists and was not created by this rollback (${existing.Id.slice(0, 12)})`,
          );
        }
        let reused = true;
        if (!existing) {
          reused = false;
          const s = a.spec;
          const [firstNetwork] = Object.entries(s.networks);
          let created: Dockerode.Container;
          try {
            created = await docker.createContainer({
              name: a.name,
              Image: a.image,
              Env: s.env,
              ...(s.cmd ? { Cmd: s.cmd } : {}),
              ...(s.entrypoint ? { Entrypoint: s.entrypoint } : {}),
              ...(s.user ? { User: s.user } : {}),
              ...(s.workingDir ? { WorkingDir: s.workingDir } : {}),
              ExposedPorts: s.exposedPorts,
              Labels: {
                ...s.labels,
                [RUN_ID_LABEL]: a.runId,
                [WORKFLOW_ID_LABEL]: a.workflowId,
                [ROLLED_BACK_FROM_LABEL]: a.rolledBackFrom,
              },
              HostConfig: {
                NetworkMode: s.networkMode,
                PortBindings: s.portBindings,
                Binds: s.binds,
                Mounts: s.mounts as Dockerode.MountConfig,
                RestartPolicy: { Name: 'unless-stopped' },
                ExtraHosts: s.extraHosts,
              },
              ...(firstNetwork
                ? { NetworkingConfig: { EndpointsConfig: { [firstNetwork[0]]: { Aliases: firstNetwork[1].aliases } } } }
                : {}),
            });
          } catch (err) {
            throw dockerFailure(err, `create '${a.name}' from '${a.image}'`);
          }
          existing = await docker.getContainer(created.id).inspect();
        }
        // Every attempt connects the networks still missing (an earlier attempt may have died half-way).
        const attached = existing.NetworkSettings?.Networks ?? {};
        for (const [net, cfg] of Object.entries(a.spec.networks)) {
          if (net in attached) continue;
          try {
            await docker.getNetwork(net).connect({ Container: existing.Id, EndpointConfig: { Aliases: cfg.aliases } });
          } catch (err) {
            throw dockerFailure(err, `connect '${a.name}' to network '${net}'`);
          }
        }
        await ensureRunning(existing, a.name);
        if (existing.Image !== target.Id) {
          throw permanent(FailureType.Conflict, `'${a.name}' runs ${existing.Image}, not the target ${target.Id}`);
        }
        return { id: existing.Id, imageId: existing.Image, reused };
      });
    },

    /** Removes the container this run created (by run-id label); absent is success. */
    async removeOwnContainer({ name, runId }: { name: string; runId: string }): Promise<{ removed: boolean }> {
      return withHeartbeat(async () => {
        const c = await inspectOrUndefined(name);
        if (!c) return { removed: false };
        if (c.Config.Labels?.[RUN_ID_LABEL] !== runId) {
          throw permanent(FailureType.Conflict, `refusing to remove '${name}': it was not created by this rollback`);
        }
        await forceRemove(c.Id, name);
        return { removed: true };
      });
    },

    /** Puts the preserved container back under its name and starts it. */
    async restorePreserved(a: {
      name: string;
      preservedName: string;
      expectedId: string;
      restartPolicy?: RunSpec['restartPolicy'];
    }): Promise<{ restored: boolean }> {
      return withHeartbeat(async () => {
        const atName = await inspectOrUndefined(a.name);
        if (atName && atName.Id !== a.expectedId) {
          throw permanent(FailureType.Conflict, `cannot restore: '${a.name}' is taken by another container`);
        }
        let restored = false;
        if (!atName) {
          const preserved = await inspectOrUndefined(a.preservedName);
          if (!preserved || preserved.Id !== a.expectedId) {
            throw permanent(FailureType.NotFound, `preserved container '${a.preservedName}' is gone`);
          }
          try {
            await docker.getContainer(a.expectedId).rename({ name: a.name });
          } catch (err) {
            throw dockerFailure(err, `rename '${a.preservedName}' back to '${a.name}'`);
          }
          restored = true;
        }
        const c = await inspectOrUndefined(a.name);
        if (!c) throw permanent(FailureType.NotFound, `restored container '${a.name}' vanished`);
        if (a.restartPolicy?.Name) await setRestartPolicy(c.Id, a.restartPolicy, a.name);
        await ensureRunning(c, a.name);
        return { restored };
      });
    },

    /** Deletes the preserved container once the rollback is verified and watched; absent is success. */
    async removePreserved(a: { preservedName: string; expectedId: string }): Promise<{ removed: boolean }> {
      return withHeartbeat(async () => {
        const c = await inspectOrUndefined(a.preservedName);
        if (!c) return { removed: false };
        if (c.Id !== a.expectedId) {
          throw permanent(FailureType.Conflict, `refusing to remove '${a.preservedName}': not the preserved container`);
        }
        await forceRemove(c.Id, a.preservedName);
        return { removed: true };
      });
    },
  };
}

function summarize(c: Dockerode.ContainerInspectInfo): Omit<ContainerSnapshot, 'spec'> {
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    image: c.Config.Image,
    imageId: c.Image,
    running: c.State.Running,
    state: c.State.Status,
    startedAt: c.State.StartedAt,
    restartPolicy: c.HostConfig.RestartPolicy?.Name ?? '',
  };
}

/** The configuration to carry over, minus what came from the old image (so the new image's defaults apply). */
export function runSpecOf(c: Dockerode.ContainerInspectInfo, image: Dockerode.ImageInspectInfo | undefined): RunSpec {
  const imageEnv = new Set(image?.Config?.Env ?? []);
  const imageLabels = image?.Config?.Labels ?? {};
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  const labels = Object.fromEntries(
    Object.entries(c.Config.Labels ?? {}).filter(([k, v]) => imageLabels[k] !== v && !k.startsWith('cortex-rollback.')),
  );
  const hc = c.HostConfig as Dockerode.HostConfig & { Mounts?: RunSpec['mounts'] };
  const networkMode = hc.NetworkMode ?? 'default';
  const networks: RunSpec['networks'] = {};
  for (const [net, ep] of Object.entries(c.NetworkSettings?.Networks ?? {})) {
    if (DEFAULT_NETWORKS.has(net)) continue;
    const short = c.Id.slice(0, 12);
    networks[net] = { aliases: ((ep.Aliases as string[] | undefined) ?? []).filter((a) => a !== short) };
  }
  const imgCfg = image?.Config as
    { Cmd?: string[]; Entrypoint?: string[]; User?: string; WorkingDir?: string } | undefined;
  const cfg = c.Config as Dockerode.ContainerInspectInfo['Config'] & { Entrypoint?: string[] | string };
  const entrypoint = typeof cfg.Entrypoint === 'string' ? [cfg.Entrypoint] : cfg.Entrypoint;
  return {
    env: (c.Config.Env ?? []).filter((e) => !imageEnv.has(e)),
    ...(image && !same(c.Config.Cmd, imgCfg?.Cmd) && c.Config.Cmd ? { cmd: c.Config.Cmd } : {}),
    ...(image && !same(entrypoint, imgCfg?.Entrypoint) && entrypoint ? { entrypoint } : {}),
    ...(c.Config.User && c.Config.User !== imgCfg?.User ? { user: c.Config.User } : {}),
    ...(c.Config.WorkingDir && c.Config.WorkingDir !== imgCfg?.WorkingDir ? { workingDir: c.Config.WorkingDir } : {}),
    exposedPorts: c.Config.ExposedPorts ?? {},
    portBindings: (hc.PortBindings as RunSpec['portBindings'] | undefined) ?? {},
    binds: hc.Binds ?? [],
    mounts: (hc.Mounts ?? []).map((m) => ({
      Type: m.Type,
      Source: m.Source,
      Target: m.Target,
      ReadOnly: m.ReadOnly,
    })),
    networkMode,
    networks,
    labels,
    restartPolicy: {
      Name: hc.RestartPolicy?.Name ?? '',
      ...(hc.RestartPolicy?.MaximumRetryCount ? { MaximumRetryCount: hc.RestartPolicy.MaximumRetryCount } : {}),
    },
    extraHosts: (hc as { ExtraHosts?: string[] }).ExtraHosts ?? [],
  };
}
