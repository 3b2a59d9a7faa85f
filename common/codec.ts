// Owns payload encryption: an AES-256-GCM PayloadCodec keyed from CORTEX_CODEC_KEYS ("keyid:base64key,..."), wired
// into every client and worker through dataConverter(). Invariants: the FIRST key encrypts, every listed key
// decrypts (rotation: put the new key first, keep the old ones until no open history needs them); the key id is
// stored in the payload's metadata (never the key); a payload without our encoding passes through untouched
// (committed plain histories, other clients); a payload whose tag does not verify is an error, never plain text.
// No key configured: no codec at all, payloads are plain JSON as before. With a codec, failure messages and stack
// traces are encrypted too (failure-converter.ts): the converter and the workflow bundle always go together.
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError } from './config.ts';
import { PROJECT_ROOT } from './tools.ts';

/** The module whose `failureConverter` moves failure messages and stack traces into encoded attributes. */
export const FAILURE_CONVERTER_PATH = join(PROJECT_ROOT, 'common', 'failure-converter.ts');

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface CodecKey {
  id: string;
  key: Buffer;
}

export class CodecError extends Error {
  override name = 'CodecError';
}

/** Parses CORTEX_CODEC_KEYS; [] when unset or empty (no encryption). Fails fast naming the variable. */
export function loadCodecKeys(env: Record<string, string | undefined> = process.env): CodecKey[] {
  const raw = env.CORTEX_CODEC_KEYS?.trim();
  if (!raw) return [];
  const keys: CodecKey[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    const sep = entry.indexOf(':');
    const id = sep > 0 ? entry.slice(0, sep) : '';
    if (!KEY_ID.test(id)) {
      throw new ConfigError(
        `CORTEX_CODEC_KEYS: each entry is keyid:base64key with a key id of letters, digits, '.', '_', '-' ` +
          `(got an entry starting '${entry.slice(0, 12)}')`,
      );
    }
    const b64 = entry.slice(sep + 1);
    const key = Buffer.from(b64, 'base64');
    if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, '')) {
      throw new ConfigError(`CORTEX_CODEC_KEYS: key '${id}' must be 32 bytes in base64 (openssl rand -base64 32)`);
    }
    if (keys.some((k) => k.id === id)) throw new ConfigError(`CORTEX_CODEC_KEYS: key id '${id}' is listed twice`);
    keys.push({ id, key });
  }
  return keys;
}

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  constructor(private readonly keys: CodecKey[]) {
    if (keys.length === 0) throw new CodecError('EncryptionCodec needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  get encryptingKeyId(): string {
    return this.keys[0]!.id;
  }

  /**
   * A keyed digest of `text` for where only a fingerprint may appear in clear (a search attribute in place of
   * free text): `hmac-<key id>-<16 hex>`, an HMAC-SHA256 under a key derived (HKDF) from the encrypting key, so a
   * guessable text cannot be confirmed from its digest without the key. Equal texts under one key digest alike.
   */
  digest(text: string): string {
    const { id, key } = this.keys[0]!;
    const k = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'cortex-rollback visibility digest', 32));
    return `hmac-${id}-${createHmac('sha256', k).update(text).digest('hex').slice(0, 16)}`;
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys[0]!;
    return Promise.resolve(
      payloads.map((p) => {
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv('aes-256-gcm', key, iv);
        // The key id is authenticated too: a payload relabelled with another key id fails, not decrypts.
        cipher.setAAD(Buffer.from(id));
        const plain = proto.temporal.api.common.v1.Payload.encode(p).finish();
        const body = Buffer.concat([cipher.update(plain), cipher.final()]);
        return {
          metadata: {
            encoding: Buffer.from(ENCRYPTED_ENCODING),
            [KEY_ID_METADATA]: Buffer.from(id),
            [CIPHER_METADATA]: Buffer.from(CIPHER),
          },
          data: Buffer.concat([iv, body, cipher.getAuthTag()]),
        };
      }),
    );
  }

  // async: a refused payload is a rejected promise, as the SDK expects, never a synchronous throw.
  async decode(payloads: Payload[]): Promise<Payload[]> {
    await Promise.resolve();
    return payloads.map((p) => this.decodeOne(p));
  }

  private decodeOne(p: Payload): Payload {
    if (!isEncrypted(p)) return p;
    const id = text(p.metadata?.[KEY_ID_METADATA]);
    const key = this.byId.get(id);
    if (!key) {
      throw new CodecError(
        `payload encrypted with key id '${id}', which is not in CORTEX_CODEC_KEYS (known: ${[...this.byId.keys()].join(', ')})`,
      );
    }
    const data = Buffer.from(p.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new CodecError(`encrypted payload (key id '${id}') is truncated`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return proto.temporal.api.common.v1.Payload.decode(plain);
    } catch (err) {
      throw new CodecError(
        `encrypted payload (key id '${id}') failed authentication: it was altered, or the key under '${id}' is ` +
          `not the one it was encrypted with (${err instanceof Error ? err.message : String(err)})`,
      );
    }
  }
}

export function isEncrypted(p: Payload): boolean {
  return text(p.metadata?.encoding) === ENCRYPTED_ENCODING;
}

function text(b: Uint8Array | null | undefined): string {
  return b ? Buffer.from(b).toString('utf8') : '';
}

/** The codec for the configured keys, or undefined when none are set. */
export function codecFromEnv(env: Record<string, string | undefined> = process.env): EncryptionCodec | undefined {
  const keys = loadCodecKeys(env);
  return keys.length ? new EncryptionCodec(keys) : undefined;
}

/**
 * The data converter every client and worker uses: with the codec (and failures encoded, so their messages and stack
 * traces are encrypted too) when keys are set, the SDK default otherwise.
 */
export function dataConverter(env: Record<string, string | undefined> = process.env): DataConverter {
  const codec = codecFromEnv(env);
  return codec ? codecDataConverter(codec) : {};
}

/** The data converter for a given codec: payloads through it, failure messages and stack traces as payloads. */
export function codecDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/** Whether a worker with this data converter needs the workflow bundle that encodes failures (workers/bundle.ts). */
export function encodesFailures(dc: DataConverter | undefined): boolean {
  return dc?.failureConverterPath === FAILURE_CONVERTER_PATH;
}
