// Owns every Qdrant side effect, through an injected QdrantClient (plus raw HTTP for snapshot download/upload,
// which the client does not stream), and the backup directory layout:
//   <backupRoot>/<collection>/<backupName>/{<snapshot file>, manifest.json}
// Invariants: nothing is loaded whole into memory (scroll pages, streamed files); every activity is idempotent or
// resumable from its heartbeat checkpoint (exports truncate to the checkpointed byte length, copies re-upsert by
// id), so a retry after a crash neither repeats a side effect nor duplicates a point; a backup whose checksum
// does not match its manifest is never restored.
import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FailureType } from '../common/failures.ts';
import { isValidBackupName, isValidCollectionName } from '../common/names.ts';
import { configContains } from '../common/config-contains.ts';
import { permanent, qdrantFailure, retryable } from './failures.ts';
import { heartbeat, previousHeartbeat, sleep, withHeartbeat } from './heartbeat.ts';
import { httpGetInto, httpPostFile, type HttpAnswer } from './http-stream.ts';
import { asInfoConfig, planCarry, type NotCarried, type RolledBackVector } from './qdrant-settings.ts';

export interface QdrantDeps {
  client: QdrantClient;
  /** Base URL of the Qdrant REST API (used for streamed snapshot transfers). */
  url: string;
  apiKey?: string;
  /** Root of the backup directory (runbook: /app/backups/qdrant). */
  backupRoot: string;
  /** OpenAI-compatible embeddings endpoint for re-embedding on a schema rollback, if configured. */
  embeddings?: { url: string; model: string; apiKey?: string };
}

export interface VectorParams {
  size: number;
  distance: string;
}

/** What a collection created `like` another took over from it (names as in Qdrant's CreateCollection). */
export interface CarriedSettings {
  carried: string[];
  notCarried: NotCarried[];
  payloadIndexes: Array<{ field: string; type: string }>;
}

export interface CollectionState {
  collection: string;
  exists: boolean;
  /** The collection an alias points to, when `collection` is an alias. */
  aliasOf?: string;
  pointsCount: number;
  vectors?: VectorParams;
  status?: string;
  config?: unknown;
}

export interface BackupManifest {
  formatVersion: 1;
  name: string;
  collection: string;
  /** Exact count, taken right after the snapshot. */
  pointsCount: number;
  /** Present only when writes changed the count while the snapshot was taken (then the snapshot holds a count between the two). */
  pointsCountBefore?: number;
  vectors?: VectorParams;
  snapshotFile: string;
  checksum: string;
  sizeBytes: number;
  createdAt: string;
  source: string;
  /** A pre-rollback backup: the backup the rollback that took it was about to restore. */
  replacedBy?: string;
  /** Nearest neighbours (top k) of a few stored points, as the backed-up collection answered them. */
  knownAnswers?: { k: number; probes: Array<{ id: PointId; top: PointId[] }> };
}

export type PointId = string | number;

interface ExportCheckpoint {
  nextOffset: PointId | null;
  bytes: number;
  exported: number;
}

interface CopyCheckpoint {
  nextOffset: PointId | null;
  copied: number;
}

const MANIFEST = 'manifest.json';

/** Qdrant 1.18's error texts (HTTP 500) for an uploaded file that is not a whole snapshot archive. */
const UNREADABLE_SNAPSHOT =
  /File IO error: (failed to unpack|Malformed (tar|snapshot) archive|unexpected end of file|failed to fill whole buffer)/i;

function assertCollection(name: string, field = 'collection'): void {
  if (!isValidCollectionName(name))
    throw permanent(FailureType.InvalidInput, `invalid ${field} name ${JSON.stringify(name)}`);
}
function assertBackup(name: string): void {
  if (!isValidBackupName(name))
    throw permanent(FailureType.InvalidInput, `invalid backup name ${JSON.stringify(name)}`);
}

/** A node:http socket error in the shape qdrantFailure reads (fetch's: a message and a cause with the code). */
function socketError(err: unknown): unknown {
  const e = err as { code?: string; message?: string } | undefined;
  return e && typeof e === 'object' ? { message: e.message, cause: { code: e.code, message: e.message } } : err;
}

function jsonOr(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return {};
  }
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

function cosine(x: number[], y: number[]): number {
  if (x.length !== y.length) return 0;
  let dot = 0;
  let nx = 0;
  let ny = 0;
  for (let i = 0; i < x.length; i++) {
    dot += x[i]! * y[i]!;
    nx += x[i]! * x[i]!;
    ny += y[i]! * y[i]!;
  }
  return nx === 0 || ny === 0 ? (nx === ny ? 1 : 0) : dot / Math.sqrt(nx * ny);
}

function singleVectorParams(config: unknown): VectorParams | undefined {
  const v = (config as { params?: { vectors?: unknown } } | undefined)?.params?.vectors as
    Record<string, unknown> | undefined;
  if (v && typeof v.size === 'number' && typeof v.distance === 'string') return { size: v.size, distance: v.distance };
  return undefined;
}

/** A point's vectors with the one named `name` replaced ('' = unnamed: a plain list when it is the only one). */
function withVector(stored: unknown, name: string, vector: Schemas['VectorStruct']): Schemas['VectorStruct'] {
  if (name === '' && (stored === null || typeof stored !== 'object' || Array.isArray(stored))) return vector;
  return { ...(stored as Record<string, Schemas['Vector']>), [name]: vector as number[] };
}

/** A point's vectors by name ('' for the unnamed one), whether Qdrant answered a bare array or an object. */
function namedVectors(v: unknown): Map<string, unknown> {
  if (Array.isArray(v)) return new Map([['', v]]);
  return new Map(Object.entries((v ?? {}) as Record<string, unknown>));
}

export function createQdrantActivities(deps: QdrantDeps) {
  const { client } = deps;
  const headers: Record<string, string> = deps.apiKey ? { 'api-key': deps.apiKey } : {};
  const base = deps.url.replace(/\/+$/, '');

  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw qdrantFailure(err, what);
    }
  }

  async function resolveAlias(name: string): Promise<string | undefined> {
    const { aliases } = await call('list aliases', () => client.getAliases());
    return aliases.find((a) => a.alias_name === name)?.collection_name;
  }

  async function inspect(collection: string): Promise<CollectionState> {
    assertCollection(collection);
    const aliasOf = await resolveAlias(collection);
    const real = aliasOf ?? collection;
    const { exists } = await call(`check collection '${real}'`, () => client.collectionExists(real));
    if (!exists) return { collection, exists: false, pointsCount: 0, ...(aliasOf ? { aliasOf } : {}) };
    const info = await call(`get collection '${real}'`, () => client.getCollection(real));
    const { count } = await call(`count '${real}'`, () => client.count(real, { exact: true }));
    const vectors = singleVectorParams(info.config);
    return {
      collection,
      exists: true,
      ...(aliasOf ? { aliasOf } : {}),
      pointsCount: count,
      ...(vectors ? { vectors } : {}),
      status: info.status,
      config: info.config,
    };
  }

  function backupDir(collection: string, backupName: string): string {
    assertCollection(collection);
    assertBackup(backupName);
    return join(deps.backupRoot, collection, backupName);
  }

  async function readManifest(collection: string, backupName: string): Promise<BackupManifest> {
    const path = join(backupDir(collection, backupName), MANIFEST);
    try {
      return JSON.parse(await readFile(path, 'utf8')) as BackupManifest;
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') {
        throw permanent(FailureType.NotFound, `backup '${backupName}' of '${collection}' has no manifest (${path})`);
      }
      throw permanent(FailureType.InvalidInput, `backup manifest ${path} is unreadable: ${(err as Error).message}`);
    }
  }

  async function verify(collection: string, backupName: string) {
    const manifest = await readManifest(collection, backupName);
    const file = join(backupDir(collection, backupName), manifest.snapshotFile);
    let actual: string;
    let sizeBytes: number;
    try {
      sizeBytes = (await stat(file)).size;
      actual = await withHeartbeat(() => sha256File(file));
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') {
        return { ok: false, manifest, actualChecksum: '', reason: `snapshot file ${file} is missing` };
      }
      throw err;
    }
    const ok = actual === manifest.checksum && sizeBytes === manifest.sizeBytes;
    return {
      ok,
      manifest,
      actualChecksum: actual,
      ...(ok
        ? {}
        : { reason: `checksum mismatch: manifest ${manifest.checksum}, file ${actual} (${sizeBytes} bytes)` }),
    };
  }

  return {
    /** Collection (or alias) state with the exact point count. */
    async qdrantInspect({ collection }: { collection: string }): Promise<CollectionState> {
      return inspect(collection);
    },

    /** Creates a collection snapshot. A retry finds the snapshot its earlier attempt created (heartbeat marker). */
    async qdrantCreateSnapshot({ collection }: { collection: string }): Promise<Schemas['SnapshotDescription']> {
      assertCollection(collection);
      const marker = previousHeartbeat<{ requestedAt: string }>();
      if (marker?.requestedAt) {
        const list = await call(`list snapshots of '${collection}'`, () => client.listSnapshots(collection));
        const mine = list
          .filter(
            (s) =>
              s.creation_time &&
              Date.parse(`${s.creation_time}Z`.replace(/ZZ$/, 'Z')) >= Date.parse(marker.requestedAt) - 1000,
          )
          .sort((a, b) => String(b.creation_time).localeCompare(String(a.creation_time)))[0];
        if (mine) return mine;
      }
      heartbeat({ requestedAt: new Date().toISOString() });
      const snap = await withHeartbeat(
        () => call(`create snapshot of '${collection}'`, () => client.createSnapshot(collection, { wait: true })),
        1000,
        () => ({ requestedAt: marker?.requestedAt ?? new Date().toISOString() }),
      );
      if (!snap)
        throw retryable(
          FailureType.Unavailable,
          `Qdrant accepted the snapshot of '${collection}' but returned no description`,
        );
      return snap;
    },

    /** Streams a snapshot to the backup directory, verifying its sha256 against Qdrant's checksum. */
    async qdrantDownloadSnapshot(a: {
      collection: string;
      snapshotName: string;
      checksum?: string | null;
      backupName: string;
    }): Promise<{ path: string; checksum: string; sizeBytes: number }> {
      const dir = backupDir(a.collection, a.backupName);
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(a.snapshotName)) {
        throw permanent(FailureType.InvalidInput, `invalid snapshot name '${a.snapshotName}'`);
      }
      const dest = join(dir, a.snapshotName);
      // a finished backup (it has a manifest) is never overwritten: names are meant to be unique per run
      if (await stat(join(dir, MANIFEST)).catch(() => undefined)) {
        throw permanent(
          FailureType.Conflict,
          `backup '${a.backupName}' of '${a.collection}' already exists; refusing to overwrite it`,
        );
      }
      await mkdir(dir, { recursive: true });
      const existing = await stat(dest).catch(() => undefined);
      if (existing && a.checksum && (await withHeartbeat(() => sha256File(dest))) === a.checksum) {
        return { path: dest, checksum: a.checksum, sizeBytes: existing.size }; // downloaded by an earlier attempt
      }
      const url = `${base}/collections/${encodeURIComponent(a.collection)}/snapshots/${encodeURIComponent(a.snapshotName)}`;
      const hash = createHash('sha256');
      let bytes = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          bytes += chunk.length;
          cb(null, chunk);
        },
      });
      const partial = `${dest}.partial`;
      let answer: HttpAnswer;
      try {
        answer = await withHeartbeat(
          () => httpGetInto(url, headers, () => [tap, createWriteStream(partial)]),
          1000,
          () => ({ bytes }),
        );
      } catch (err) {
        if (bytes === 0) throw qdrantFailure(socketError(err), `download snapshot ${a.snapshotName}`);
        throw retryable(FailureType.Unavailable, `download of ${a.snapshotName} broke after ${bytes} bytes`, err);
      }
      if (answer.status < 200 || answer.status >= 300) {
        throw qdrantFailure({ status: answer.status, message: answer.body }, `download snapshot ${a.snapshotName}`);
      }
      const checksum = hash.digest('hex');
      if (a.checksum && checksum !== a.checksum) {
        await rm(partial, { force: true });
        throw retryable(
          FailureType.Unavailable,
          `downloaded ${a.snapshotName} has sha256 ${checksum}, Qdrant says ${a.checksum}`,
        );
      }
      await rename(partial, dest);
      return { path: dest, checksum, sizeBytes: bytes };
    },

    async writeBackupManifest(m: Omit<BackupManifest, 'formatVersion' | 'source'>): Promise<{ path: string }> {
      const dir = backupDir(m.collection, m.name);
      const manifest: BackupManifest = { formatVersion: 1, ...m, source: base };
      const path = join(dir, MANIFEST);
      await writeFile(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
      await rename(`${path}.tmp`, path);
      return { path };
    },

    /** Re-reads a backup and checks its file against the manifest (the runbook's ops:backup:verify). */
    async verifyBackup({ collection, backupName }: { collection: string; backupName: string }) {
      return verify(collection, backupName);
    },

    /** Backups of a collection with readable manifests, oldest first. */
    async listBackups({ collection }: { collection: string }): Promise<BackupManifest[]> {
      assertCollection(collection);
      const dir = join(deps.backupRoot, collection);
      const names = await readdir(dir).catch(() => [] as string[]);
      const out: BackupManifest[] = [];
      for (const n of names) {
        if (!isValidBackupName(n)) continue;
        const m = await readManifest(collection, n).catch(() => undefined);
        if (m) out.push(m);
      }
      return out.sort((x, y) => x.createdAt.localeCompare(y.createdAt));
    },

    /** Read-only, for dry-run plans: Qdrant's own snapshots of a collection (oldest first) and the backup root. */
    async qdrantBackupInventory({ collection }: { collection: string }): Promise<{
      backupRoot: string;
      snapshots: Array<{ name: string; createdAt?: string; sizeBytes: number }>;
    }> {
      assertCollection(collection);
      const list = await call(`list snapshots of '${collection}'`, () => client.listSnapshots(collection));
      const snapshots = list
        .map((s) => ({
          name: s.name,
          // Qdrant gives a zoneless UTC time
          ...(s.creation_time ? { createdAt: new Date(`${s.creation_time.replace(/Z$/, '')}Z`).toISOString() } : {}),
          sizeBytes: s.size,
        }))
        .sort((x, y) => (x.createdAt ?? '').localeCompare(y.createdAt ?? ''));
      return { backupRoot: deps.backupRoot, snapshots };
    },

    async qdrantDeleteSnapshot({
      collection,
      snapshotName,
    }: {
      collection: string;
      snapshotName: string;
    }): Promise<{ deleted: boolean }> {
      assertCollection(collection);
      try {
        await client.deleteSnapshot(collection, snapshotName);
        return { deleted: true };
      } catch (err) {
        if ((err as { status?: number }).status === 404) return { deleted: false };
        throw qdrantFailure(err, `delete snapshot ${snapshotName}`);
      }
    },

    /**
     * Restores `collection` from a backup: the file's size is checked against its manifest, and the file is
     * uploaded with the manifest's checksum, which Qdrant verifies before it changes anything; a mismatch is
     * reported as a corrupt backup, permanently. The file is read once, by the upload: hashing it here as well cost
     * a whole extra pass (2–3 s of CPU for a 650 MiB snapshot on this machine). The workflows verify the backup
     * from disk before their approval.
     */
    async qdrantRestoreBackup({
      collection,
      backupName,
    }: {
      collection: string;
      backupName: string;
    }): Promise<{ pointsCount: number }> {
      const manifest = await readManifest(collection, backupName);
      const file = join(backupDir(collection, backupName), manifest.snapshotFile);
      const refused = (reason: string) =>
        permanent(FailureType.VerificationFailed, `backup '${backupName}' refused: ${reason}`);
      const size = await stat(file).then(
        (s) => s.size,
        (err: unknown) => {
          if ((err as { code?: string }).code === 'ENOENT') throw refused(`snapshot file ${file} is missing`);
          throw err;
        },
      );
      if (size !== manifest.sizeBytes)
        throw refused(`size mismatch: manifest ${manifest.sizeBytes} bytes, file ${size} bytes`);
      const target = (await resolveAlias(collection)) ?? collection;
      const url = `${base}/collections/${encodeURIComponent(target)}/snapshots/upload?priority=snapshot&wait=true&checksum=${manifest.checksum}`;
      let res: HttpAnswer;
      try {
        res = await withHeartbeat(() =>
          httpPostFile(url, headers, { field: 'snapshot', file, filename: manifest.snapshotFile }),
        );
      } catch (err) {
        throw qdrantFailure(socketError(err), `upload backup '${backupName}'`);
      }
      if (res.status < 200 || res.status >= 300) {
        const body = jsonOr(res.body) as { status?: { error?: string } };
        const error = body.status?.error ?? '';
        // the bytes are not the ones the manifest's checksum was taken of: Qdrant refused them, nothing changed
        if (res.status === 400 && /checksum mismatch/i.test(error))
          throw refused(`checksum mismatch (Qdrant: ${error})`);
        // Qdrant answers a file it cannot read as a snapshot archive with a 500 (its tar reader's IO error):
        // the same file fails the same way on every retry
        if (res.status === 500 && UNREADABLE_SNAPSHOT.test(error)) {
          throw permanent(
            FailureType.VerificationFailed,
            `restore '${target}' from backup '${backupName}': Qdrant cannot read the snapshot file: ${error}`,
          );
        }
        throw qdrantFailure({ status: res.status, data: body }, `restore '${target}' from backup '${backupName}'`);
      }
      const { count } = await call(`count '${target}'`, () => client.count(target, { exact: true }));
      return { pointsCount: count };
    },

    /**
     * Emergency export: every point with payload and vector, one JSON object per line, streamed page by page.
     * Resumable: the checkpoint (next scroll offset, bytes written) is heartbeated; a retry truncates the file to
     * the checkpointed length and continues from its offset, so no point is written twice.
     */
    async qdrantExportNdjson(a: { collection: string; exportName: string; batchSize?: number }): Promise<{
      exported: number;
      bytes: number;
      path: string;
      checksum: string;
      /** The checkpoint offset this attempt started from (null: from the start) and the pages it read. */
      resumedFrom: PointId | null;
      pagesRead: number;
    }> {
      assertCollection(a.collection);
      assertBackup(a.exportName);
      const dest = join(deps.backupRoot, a.collection, '_exports', `${a.exportName}.ndjson`);
      const limit = a.batchSize ?? 256;
      const cp = previousHeartbeat<ExportCheckpoint>() ?? { nextOffset: null, bytes: 0, exported: 0 };
      const resumed = cp.bytes > 0 || cp.nextOffset !== null;
      await mkdir(join(dest, '..'), { recursive: true });
      if (resumed) await truncate(dest, cp.bytes);
      const fh = await open(dest, resumed ? 'r+' : 'w');
      let { nextOffset, bytes, exported } = cp;
      let pagesRead = 0;
      try {
        let first = !resumed;
        while (first || nextOffset !== null) {
          first = false;
          const page = await call(`scroll '${a.collection}'`, () =>
            client.scroll(a.collection, {
              limit,
              with_payload: true,
              with_vector: true,
              ...(nextOffset !== null ? { offset: nextOffset } : {}),
            }),
          );
          pagesRead += 1;
          const chunk = page.points
            .map((p) => JSON.stringify({ id: p.id, vector: p.vector, payload: p.payload ?? {} }))
            .join('\n');
          if (chunk) {
            const buf = Buffer.from(`${chunk}\n`);
            await fh.write(buf, 0, buf.length, bytes);
            bytes += buf.length;
            exported += page.points.length;
          }
          nextOffset = (page.next_page_offset as PointId | null | undefined) ?? null;
          heartbeat({ nextOffset, bytes, exported } satisfies ExportCheckpoint);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      return {
        exported,
        bytes,
        path: dest,
        resumedFrom: cp.nextOffset,
        pagesRead,
        checksum: await withHeartbeat(
          () => sha256File(dest),
          1000,
          () => ({ nextOffset, bytes, exported }),
        ),
      };
    },

    /**
     * Creates a collection with the given vector params; an existing one with the same params is success. With
     * `like`, the collection is created like that one (every setting and payload index carried, see
     * qdrant-settings.ts) and the result says what was carried and what could not be. Payload indexes exist
     * before this returns, so they are built before any point is copied in.
     */
    async qdrantEnsureCollection(a: {
      collection: string;
      vectors: VectorParams;
      like?: string;
      /** With `like`: the named vector that gets `vectors` (the others are carried); absent for the unnamed one. */
      vectorName?: string;
      reembedded?: boolean;
    }): Promise<{ created: boolean; settings?: CarriedSettings }> {
      assertCollection(a.collection);
      if (a.like !== undefined)
        return ensureLike(a.collection, a.like, {
          name: a.vectorName ?? '',
          ...a.vectors,
          reembedded: a.reembedded ?? false,
        });
      const s = await inspect(a.collection);
      if (s.exists) {
        if (s.vectors?.size === a.vectors.size && s.vectors.distance === a.vectors.distance) return { created: false };
        throw permanent(
          FailureType.Conflict,
          `collection '${a.collection}' exists with other vector params (${JSON.stringify(s.vectors)})`,
        );
      }
      await call(`create collection '${a.collection}'`, () =>
        client.createCollection(a.collection, {
          vectors: { size: a.vectors.size, distance: a.vectors.distance as Schemas['Distance'] },
        }),
      );
      return { created: true };
    },

    /**
     * Copies every point from `source` to `target` in batches (upsert by id: repeating a batch is harmless),
     * optionally re-embedding `payload[contentField]` with the configured provider. Resumable from the heartbeated
     * scroll offset.
     */
    async qdrantCopyPoints(a: {
      source: string;
      target: string;
      batchSize?: number;
      /** `vectorName`: the named vector to re-embed (the point's other vectors are copied as they are). */
      reembed?: { contentField: string; size: number; vectorName?: string };
    }): Promise<{ copied: number; resumedFrom: PointId | null; pagesRead: number }> {
      assertCollection(a.source, 'source');
      assertCollection(a.target, 'target');
      const limit = a.batchSize ?? 256;
      const cp = previousHeartbeat<CopyCheckpoint>() ?? { nextOffset: null, copied: 0 };
      let { nextOffset, copied } = cp;
      let pagesRead = 0;
      const fetchPage = (offset: PointId | null) =>
        call(`scroll '${a.source}'`, () =>
          client.scroll(a.source, {
            limit,
            with_payload: true,
            // with re-embedding too: sparse and other named vectors are carried as they are
            with_vector: true,
            ...(offset !== null ? { offset } : {}),
          }),
        );
      // Read ahead: the next page is fetched while the current one is written (the checkpoint still only
      // advances after a page's upsert is acknowledged).
      const finishedBefore = cp.nextOffset === null && cp.copied > 0; // an earlier attempt copied the last page
      let pending: ReturnType<typeof fetchPage> | undefined = finishedBefore ? undefined : fetchPage(nextOffset);
      while (pending) {
        const page: Schemas['ScrollResult'] = await pending;
        pagesRead += 1;
        const after: PointId | null = (page.next_page_offset as PointId | null | undefined) ?? null;
        pending = after !== null ? fetchPage(after) : undefined;
        pending?.catch(() => undefined); // a failed read-ahead surfaces when awaited
        if (page.points.length > 0) {
          let vectors: Array<Schemas['VectorStruct']>;
          if (a.reembed) {
            const field = a.reembed.contentField;
            const texts = page.points.map((p) => {
              const t = p.payload?.[field];
              if (typeof t !== 'string') {
                throw permanent(
                  FailureType.InvalidInput,
                  `point ${String(p.id)} has no string payload.${field} to re-embed`,
                );
              }
              return t;
            });
            vectors = await embed(texts, a.reembed.size);
          } else {
            vectors = page.points.map((p) => p.vector as Schemas['VectorStruct']);
          }
          const points = page.points.map((p, i) => ({
            id: p.id,
            vector: a.reembed ? withVector(p.vector, a.reembed.vectorName ?? '', vectors[i]!) : vectors[i]!,
            payload: p.payload ?? {},
          }));
          await call(`upsert into '${a.target}'`, () => client.upsert(a.target, { wait: true, points }));
          copied += points.length;
        }
        nextOffset = after;
        heartbeat({ nextOffset, copied } satisfies CopyCheckpoint);
      }
      return { copied, resumedFrom: cp.nextOffset, pagesRead };
    },

    /** Points `alias` at `collection` in one atomic alias operation. */
    async qdrantSwitchAlias({
      alias,
      collection,
    }: {
      alias: string;
      collection: string;
    }): Promise<{ previous?: string }> {
      assertCollection(alias, 'alias');
      assertCollection(collection);
      const previous = await resolveAlias(alias);
      if (previous === collection) return { previous };
      await call(`switch alias '${alias}' to '${collection}'`, () =>
        client.updateCollectionAliases({
          actions: [
            ...(previous ? [{ delete_alias: { alias_name: alias } }] : []),
            { create_alias: { alias_name: alias, collection_name: collection } },
          ],
        }),
      );
      return previous ? { previous } : {};
    },

    async qdrantDeleteCollection({ collection }: { collection: string }): Promise<{ deleted: boolean }> {
      assertCollection(collection);
      const { exists } = await call(`check '${collection}'`, () => client.collectionExists(collection));
      if (!exists) return { deleted: false };
      await call(`delete collection '${collection}'`, () => client.deleteCollection(collection));
      return { deleted: true };
    },

    /** Functional check: a stored point's own vector must find that point (a query of the right dimension). */
    async qdrantSampleQuery({
      collection,
      using,
    }: {
      collection: string;
      /** The named vector to query with; absent for the unnamed one. */
      using?: string;
    }): Promise<{ ok: boolean; checkedId?: PointId; topId?: PointId; score?: number }> {
      assertCollection(collection);
      const page = await call(`scroll '${collection}'`, () =>
        client.scroll(collection, { limit: 1, with_vector: true, with_payload: false }),
      );
      const p = page.points[0];
      if (!p) return { ok: true };
      // a point with several vectors (named, or unnamed plus sparse) lists them by name; '' is the unnamed one
      const query = Array.isArray(p.vector)
        ? p.vector
        : (p.vector as Record<string, unknown> | undefined)?.[using ?? ''];
      if (!Array.isArray(query))
        throw permanent(FailureType.InvalidInput, `point ${String(p.id)} has no dense vector '${using ?? ''}'`);
      const res = await call(`query '${collection}'`, () =>
        client.query(collection, {
          query: query as number[],
          limit: 5,
          with_payload: false,
          ...(using ? { using } : {}),
        }),
      );
      const ids = res.points.map((x) => x.id);
      return {
        ok: ids.includes(p.id),
        checkedId: p.id,
        ...(res.points[0] ? { topId: res.points[0].id, score: res.points[0].score } : {}),
      };
    },

    /**
     * Known-answer search probe: for up to `samples` stored points (the first by id, or `ids`), the ids of the `k`
     * nearest neighbours of that point's stored vector (Qdrant's query by id, which excludes the point itself).
     * Recorded before a change and compared after it, the answers cannot match by construction, unlike a search
     * that finds the very point whose vector it used. With named vectors it probes the first name.
     */
    async qdrantSearchProbe(a: {
      collection: string;
      samples?: number;
      k?: number;
      ids?: PointId[];
    }): Promise<{ probes: Array<{ id: PointId; top: PointId[] }> }> {
      assertCollection(a.collection);
      const ids =
        a.ids ??
        (
          await call(`scroll '${a.collection}'`, () =>
            client.scroll(a.collection, { limit: a.samples ?? 3, with_vector: false, with_payload: false }),
          )
        ).points.map((p) => p.id);
      // a collection of named vectors has no default one: probe the first name, the same one before and after
      const info = await call(`get collection '${a.collection}'`, () => client.getCollection(a.collection));
      const vectors = (info.config.params.vectors ?? {}) as Record<string, unknown>;
      const using = typeof vectors.size === 'number' ? undefined : Object.keys(vectors).sort()[0];
      const probes: Array<{ id: PointId; top: PointId[] }> = [];
      for (const id of ids) {
        const res = await call(`test search on '${a.collection}'`, () =>
          client.query(a.collection, { query: id, limit: a.k ?? 5, with_payload: false, ...(using ? { using } : {}) }),
        );
        probes.push({ id, top: res.points.map((x) => x.id) });
      }
      return { probes };
    },

    /**
     * Checks a copy against what it was copied from, for `samples` points of `source`: each is in `target` with the
     * same payload, and a vector that is either the same (same direction: Qdrant normalises for Cosine) or, when
     * re-embedded, of the target's size; and a search by one of them on `target` answers. Never throws for a
     * mismatch: it returns the problems.
     */
    async qdrantCompareSample(a: {
      source: string;
      target: string;
      samples?: number;
      /** The vector rolled back: compared as the same, or only its size when re-embedded. */
      vectors: { same: true } | { size: number };
      /** Its name in a collection of named vectors; every other vector of a point must be copied as it was. */
      vectorName?: string;
    }): Promise<{ checked: number; problems: string[] }> {
      assertCollection(a.source, 'source');
      assertCollection(a.target, 'target');
      const { points } = await call(`scroll '${a.source}'`, () =>
        client.scroll(a.source, { limit: a.samples ?? 16, with_payload: true, with_vector: true }),
      );
      if (points.length === 0) return { checked: 0, problems: [] };
      const copies = await call(`retrieve from '${a.target}'`, () =>
        client.retrieve(a.target, { ids: points.map((p) => p.id), with_payload: true, with_vector: true }),
      );
      const byId = new Map(copies.map((c) => [String(c.id), c]));
      const problems: string[] = [];
      for (const p of points) {
        const c = byId.get(String(p.id));
        if (!c) {
          problems.push(`point ${String(p.id)} is missing`);
          continue;
        }
        if (canonicalJson(c.payload ?? {}) !== canonicalJson(p.payload ?? {}))
          problems.push(`point ${String(p.id)} has another payload`);
        const rolled = a.vectorName ?? '';
        const mine = namedVectors(p.vector);
        const theirs = namedVectors(c.vector);
        for (const [name, v] of mine) {
          const w = theirs.get(name);
          const label = name ? `vector '${name}'` : 'vector';
          if (name === rolled && !('same' in a.vectors)) {
            if (!Array.isArray(w) || w.length !== a.vectors.size)
              problems.push(`point ${String(p.id)} has no ${a.vectors.size}-dimensional ${label}`);
          } else if (Array.isArray(v)) {
            if (!Array.isArray(w) || cosine(v as number[], w as number[]) < 0.99999)
              problems.push(`point ${String(p.id)} has another ${label}`);
          } else if (canonicalJson(w) !== canonicalJson(v)) {
            problems.push(`point ${String(p.id)} has another ${label}`); // sparse: copied as it was
          }
        }
      }
      if (points.length > 1) {
        const want = Math.min(5, points.length - 1);
        const res = await call(`search '${a.target}'`, () =>
          client.query(a.target, {
            query: points[0]!.id,
            limit: want,
            with_payload: false,
            ...(a.vectorName ? { using: a.vectorName } : {}),
          }),
        );
        if (res.points.length < want)
          problems.push(`a search by point ${String(points[0]!.id)} found ${res.points.length} of ${want} neighbours`);
      }
      return { checked: points.length, problems };
    },

    /** Qdrant's readiness (GET /readyz): polls until 200 or `timeoutSeconds`; never throws for "not ready". */
    async qdrantReady({ timeoutSeconds = 60 }: { timeoutSeconds?: number }): Promise<{
      ready: boolean;
      status?: number;
      body: string;
      attempts: number;
    }> {
      const end = Date.now() + timeoutSeconds * 1000;
      let attempts = 0;
      let status: number | undefined;
      return withHeartbeat(
        async () => {
          for (;;) {
            attempts += 1;
            let body: string;
            status = undefined;
            try {
              const res = await fetch(`${base}/readyz`, { headers, signal: AbortSignal.timeout(5000) });
              status = res.status;
              body = (await res.text()).slice(0, 200);
            } catch (err) {
              body = String((err as { cause?: { code?: string } }).cause?.code ?? err);
            }
            if (status === 200) return { ready: true, status, body, attempts };
            if (Date.now() > end) return { ready: false, ...(status ? { status } : {}), body, attempts };
            await sleep(Math.min(1000, 100 * attempts));
          }
        },
        500,
        () => ({ attempts, status }),
      );
    },

    /** Applies a collection config change (PATCH) and waits until the collection is green again. */
    async qdrantPatchCollection(a: {
      collection: string;
      patch: Schemas['UpdateCollection'];
      greenTimeoutSeconds?: number;
    }): Promise<{ status: string }> {
      assertCollection(a.collection);
      await call(`update collection '${a.collection}'`, () => client.updateCollection(a.collection, a.patch));
      const end = Date.now() + (a.greenTimeoutSeconds ?? 60) * 1000;
      for (;;) {
        const info = await call(`get '${a.collection}'`, () => client.getCollection(a.collection));
        heartbeat({ status: info.status });
        if (info.status === 'green') return { status: info.status };
        if (Date.now() > end)
          throw retryable(FailureType.Unavailable, `'${a.collection}' is ${info.status}, not green`);
        await sleep(500);
      }
    },
  };

  async function ensureLike(
    collection: string,
    like: string,
    vector: RolledBackVector,
  ): Promise<{ created: boolean; settings: CarriedSettings }> {
    assertCollection(like, 'like');
    const source = await call(`get collection '${like}'`, () => client.getCollection(like));
    if (vector.name !== '' && !Object.hasOwn(source.config.params.vectors ?? {}, vector.name)) {
      throw permanent(FailureType.InvalidInput, `'${like}' has no vector named '${vector.name}'`);
    }
    const plan = planCarry(source, vector);
    const { exists } = await call(`check collection '${collection}'`, () => client.collectionExists(collection));
    let existing: Schemas['CollectionInfo'] | undefined;
    if (exists) {
      // an earlier attempt created it: success only if it is the collection this plan builds
      existing = await call(`get collection '${collection}'`, () => client.getCollection(collection));
      if (!configContains(existing.config, asInfoConfig(plan.body))) {
        throw permanent(
          FailureType.Conflict,
          `collection '${collection}' exists with other settings than '${like}' with vectors ${vector.size}/${vector.distance}`,
        );
      }
    } else {
      // through the raw API: the client's createCollection drops fields it does not know (metadata, payload)
      await call(`create collection '${collection}' like '${like}'`, () =>
        client.api().createCollection({ collection_name: collection, ...plan.body }),
      );
    }
    if (plan.patch) {
      const patch = plan.patch;
      await call(`update collection '${collection}'`, () => client.updateCollection(collection, patch));
    }
    const notCarried = [...plan.notCarried];
    const payloadIndexes: CarriedSettings['payloadIndexes'] = [];
    for (const index of plan.indexes) {
      const type = typeof index.schema === 'string' ? index.schema : index.schema.type;
      const have = existing?.payload_schema?.[index.field];
      if (have && JSON.stringify(have.params ?? have.data_type) === JSON.stringify(index.schema)) {
        payloadIndexes.push({ field: index.field, type });
        continue;
      }
      try {
        await client.createPayloadIndex(collection, {
          wait: true,
          field_name: index.field,
          field_schema: index.schema,
        });
        payloadIndexes.push({ field: index.field, type });
      } catch (err) {
        const status = (err as { status?: number }).status;
        // refused by Qdrant (4xx): report it; anything else is worth a retry
        if (status === undefined || status >= 500 || status === 429) {
          throw qdrantFailure(err, `create payload index '${index.field}' on '${collection}'`);
        }
        notCarried.push({
          setting: `payload index ${index.field}`,
          why: `Qdrant refused it: ${qdrantFailure(err, 'create payload index').message}`,
        });
      }
    }
    return {
      created: !exists,
      settings: { carried: plan.carried, notCarried, payloadIndexes },
    };
  }

  async function embed(texts: string[], size: number): Promise<number[][]> {
    const e = deps.embeddings;
    if (!e) throw permanent(FailureType.InvalidInput, 'no embeddings provider is configured (CORTEX_EMBEDDINGS_URL)');
    let res: Response;
    try {
      res = await fetch(`${e.url.replace(/\/+$/, '')}/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(e.apiKey ? { authorization: `Bearer ${e.apiKey}` } : {}) },
        body: JSON.stringify({ model: e.model, input: texts }),
      });
    } catch (err) {
      throw retryable(FailureType.Unavailable, 'embeddings provider unreachable', err);
    }
    if (!res.ok) {
      const msg = `embeddings provider answered ${res.status}`;
      throw res.status >= 500 || res.status === 429
        ? retryable(FailureType.Unavailable, msg)
        : permanent(FailureType.InvalidInput, msg);
    }
    const body = (await res.json()) as { data: Array<{ embedding: number[]; index: number }> };
    const out = body.data.sort((x, y) => x.index - y.index).map((d) => d.embedding);
    if (out.length !== texts.length || out.some((v) => v.length !== size)) {
      throw permanent(
        FailureType.InvalidInput,
        `embeddings provider returned vectors that are not ${texts.length} × ${size}`,
      );
    }
    return out;
  }
}
