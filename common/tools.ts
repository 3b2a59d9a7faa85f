// Owns where the binaries come from: $TEMPORAL_CLI / $TEMPORAL_TEST_SERVER, then .tools/bin (put there by
// `npm run provision`), then PATH; the cached builds (OpenTofu, Qdrant) outside the clone. Never a download at run time.
import { accessSync, constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function resolveBinary(envVar: string, name: string): string {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    if (!executable(fromEnv)) throw new Error(`${envVar}=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const local = join(PROJECT_ROOT, '.tools', 'bin', name);
  if (executable(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  throw new Error(`'${name}' not found: run 'npm run provision', or set ${envVar} to its path`);
}

export const temporalCliPath = (): string => resolveBinary('TEMPORAL_CLI', 'temporal');
export const temporalTestServerPath = (): string => resolveBinary('TEMPORAL_TEST_SERVER', 'temporal-test-server');

/** Where provisioning caches the binaries it builds (scripts/provision-systems.sh), outside the clone. */
export const SYSTEMS_CACHE_BIN = '/var/cache/cortex-rollback/bin';

/** The cache's bin folder as provisioning chose it: $CORTEX_CACHE/bin when set, else SYSTEMS_CACHE_BIN. */
const cacheBin = (): string => {
  const cache = process.env.CORTEX_CACHE?.trim();
  return cache ? join(cache, 'bin') : SYSTEMS_CACHE_BIN;
};

/**
 * The Qdrant 1.18.3 server the database tests start: $QDRANT_BIN, then the cached one (`scripts/provision.sh
 * qdrant` puts it there), .tools/bin, PATH.
 */
export function qdrantServerPath(): string {
  if (!process.env.QDRANT_BIN && executable(join(cacheBin(), 'qdrant'))) return join(cacheBin(), 'qdrant');
  return resolveBinary('QDRANT_BIN', 'qdrant');
}

/**
 * The infrastructure-as-code program a worker runs: $TOFU_BIN / $TERRAFORM_BIN, then (for OpenTofu) the cached
 * build, .tools/bin, PATH.
 */
export function iacBinaryPath(tool: 'tofu' | 'terraform'): string {
  const envVar = tool === 'tofu' ? 'TOFU_BIN' : 'TERRAFORM_BIN';
  if (!process.env[envVar] && tool === 'tofu' && executable(join(SYSTEMS_CACHE_BIN, 'tofu'))) {
    return join(SYSTEMS_CACHE_BIN, 'tofu');
  }
  return resolveBinary(envVar, tool);
}
