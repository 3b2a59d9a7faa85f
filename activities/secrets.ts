// Owns secret rotation in an env file (the runbook's rotate-secrets.sh): the listed keys get new values from a
// pluggable rotator (default: 32 crypto-random bytes, base64url), the file is replaced atomically keeping its mode
// and owner, and the previous file is kept as a 0600 backup beside it.
// Invariants:
//  - no value ever leaves this module: results and failures carry key names and sha256 digests only;
//  - idempotent: a retry after a crash finds its backup and either rotates (the file is still the backup's
//    bytes) or recognises its own rotation (every other line unchanged, every listed key changed) and returns it;
//    anything else changed the file meanwhile (Conflict, nothing written);
//  - a rotator that yields an empty value or one an env file cannot hold (newline, NUL) is refused.
import { createHash, randomBytes } from 'node:crypto';
import { FailureType } from '../common/failures.ts';
import { atomicWrite, fileDigest, loadEnvFile } from './envfile.ts';
import { permanent } from './failures.ts';
import { withHeartbeat } from './heartbeat.ts';

/** Makes a new value for one key. A production rotator may also register it with the issuer (an API, a vault). */
export interface SecretRotator {
  generate(key: string): string | Promise<string>;
}

export const randomRotator: SecretRotator = { generate: () => randomBytes(32).toString('base64url') };

export interface SecretDeps {
  /** Rotators by name (the workflow input names one); default: `random`. */
  rotators?: Record<string, SecretRotator>;
}

export interface RotatedKey {
  key: string;
  oldSha256: string;
  newSha256: string;
}

export interface SecretRotation {
  path: string;
  backupPath: string;
  backupSha256: string;
  /** sha256 of the file after the rotation. */
  sha256: string;
  keys: RotatedKey[];
  /** false: this call found its own earlier rotation (a retry). */
  rotated: boolean;
}

const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

export function createSecretActivities(deps: SecretDeps = {}) {
  const rotators = deps.rotators ?? { random: randomRotator };
  return {
    async rotateEnvSecrets(a: {
      path: string;
      keys: string[];
      backupPath: string;
      rotator: string;
      tag: string;
    }): Promise<SecretRotation> {
      return withHeartbeat(async () => {
        const rotator = rotators[a.rotator];
        if (!rotator) {
          throw permanent(
            FailureType.InvalidInput,
            `no secret rotator '${a.rotator}' on this worker (known: ${Object.keys(rotators).join(', ')})`,
          );
        }
        const cur = await loadEnvFile(a.path);
        if (cur.parsed.problems.length > 0) {
          throw permanent(
            FailureType.InvalidInput,
            `env file ${a.path} is not valid (${cur.parsed.problems.length} problems)`,
          );
        }
        const absent = a.keys.filter((k) => !cur.parsed.entries.some((e) => e.key === k));
        if (absent.length > 0) {
          throw permanent(FailureType.InvalidInput, `env file ${a.path} has no ${absent.join(', ')} to rotate`);
        }
        let backupSha = await fileDigest(a.backupPath);
        if (backupSha === undefined) {
          await atomicWrite(a.backupPath, cur.data, { mode: 0o600, uid: cur.info.uid, gid: cur.info.gid }, a.tag);
          backupSha = cur.info.sha256;
        }
        const old = await loadEnvFile(a.backupPath);
        const missing = a.keys.filter((k) => !old.parsed.entries.some((e) => e.key === k));
        if (missing.length > 0) {
          throw permanent(FailureType.InvalidInput, `env file ${a.path} has no ${missing.join(', ')} to rotate`);
        }
        const oldOf = (k: string) => sha256(old.parsed.entries.find((e) => e.key === k)!.value);
        const digests = (entries: typeof cur.parsed.entries): RotatedKey[] =>
          a.keys.map((key) => ({
            key,
            oldSha256: oldOf(key),
            newSha256: sha256(entries.find((e) => e.key === key)?.value ?? ''),
          }));
        const result = (sha: string, keys: RotatedKey[], rotated: boolean): SecretRotation => ({
          path: a.path,
          backupPath: a.backupPath,
          backupSha256: backupSha,
          sha256: sha,
          keys,
          rotated,
        });

        if (cur.info.sha256 !== backupSha) {
          // A retry: ours if only the listed keys differ from the backup, each of them changed.
          const others = (e: { key: string }) => !a.keys.includes(e.key);
          const same =
            JSON.stringify(cur.parsed.entries.filter(others).map((e) => [e.key, e.value])) ===
            JSON.stringify(old.parsed.entries.filter(others).map((e) => [e.key, e.value]));
          const keys = digests(cur.parsed.entries);
          if (same && keys.every((k) => k.newSha256 !== k.oldSha256)) return result(cur.info.sha256, keys, false);
          throw permanent(
            FailureType.Conflict,
            `env file ${a.path} changed after its backup ${a.backupPath} was taken, and not by this rotation; nothing written`,
          );
        }
        const fresh = new Map<string, string>();
        for (const key of a.keys) {
          const v = await rotator.generate(key);
          if (typeof v !== 'string' || v === '' || /[\n\r\0]/.test(v)) {
            throw permanent(
              FailureType.InvalidInput,
              `rotator '${a.rotator}' gave ${key} a value an env file cannot hold`,
            );
          }
          fresh.set(key, v);
        }
        const lines = cur.data.toString('utf8').split('\n');
        for (const e of cur.parsed.entries) {
          const v = fresh.get(e.key);
          if (v !== undefined) lines[e.line - 1] = `${e.key}=${v}`;
        }
        const data = Buffer.from(lines.join('\n'));
        await atomicWrite(
          a.path,
          data,
          { mode: parseInt(cur.info.mode, 8), uid: cur.info.uid, gid: cur.info.gid },
          a.tag,
        );
        const keys = a.keys.map((key) => ({ key, oldSha256: oldOf(key), newSha256: sha256(fresh.get(key)!) }));
        return result(sha256(data), keys, true);
      });
    },
  };
}
