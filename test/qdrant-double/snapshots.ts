// Owns snapshot files: <snapshotsDir>/<collection>/<name>.snapshot plus <name>.snapshot.checksum (sha256 hex of the
// file), as Qdrant lays them out. The file format is the double's own: MAGIC, a record holding the collection state,
// point records, and an end record with the point count (records as in store.ts).
// Invariants: a snapshot only becomes visible (renamed into place) once complete and its checksum file is written;
// parseSnapshot accepts nothing but a complete, well-formed file, so a corrupted one never restores partial data.
import { createHash, randomInt } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { notFound, QdrantError } from './errors.ts';
import type { Point } from './points.ts';
import { decodeRecords, encodeRecord, type CollectionState } from './store.ts';

const MAGIC = Buffer.from('QDRANT-DOUBLE-SNAPSHOT/1\n');

export interface SnapshotDescription {
  name: string;
  creation_time: string | null;
  size: number;
  checksum?: string;
}

export const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

// Qdrant names snapshots `<collection>-<peer id>-<UTC time>.snapshot`; the double draws a fresh number per snapshot
// so two snapshots taken within one second do not overwrite each other.
export function snapshotName(collection: string, now = new Date()): string {
  const ts = now.toISOString().slice(0, 19).replace('T', '-').replace(/:/g, '-');
  return `${collection}-${randomInt(1, 2 ** 47)}-${ts}.snapshot`;
}

/** Path of an existing snapshot file, refusing names that would leave the directory (as Qdrant: 404). */
export async function snapshotPath(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  if (name.includes('/') || name.includes('\\') || name === '..' || name === '.' || name.includes('\0')) {
    throw notFound(`Snapshot ${name}`);
  }
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) throw notFound(`Snapshot ${name}`);
  return path;
}

export async function describeSnapshot(path: string, name: string): Promise<SnapshotDescription> {
  const info = await stat(path);
  const created = info.birthtimeMs > 0 ? info.birthtime : info.mtime;
  const checksum = await readFile(`${path}.checksum`, 'utf8').catch(() => undefined);
  return {
    name,
    creation_time: created.toISOString().slice(0, 19),
    size: info.size,
    ...(checksum !== undefined && { checksum }),
  };
}

export async function listSnapshots(dir: string): Promise<SnapshotDescription[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.snapshot')).sort();
  return Promise.all(names.map((n) => describeSnapshot(join(dir, n), n)));
}

export async function writeSnapshot(
  dir: string,
  name: string,
  state: CollectionState,
  points: readonly Point[],
): Promise<SnapshotDescription> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  const hash = createHash('sha256');
  const fh = await open(`${path}.tmp`, 'w');
  try {
    const write = async (buf: Buffer): Promise<void> => {
      hash.update(buf);
      for (let off = 0; off < buf.length;) off += (await fh.write(buf, off)).bytesWritten;
    };
    await write(MAGIC);
    await write(encodeRecord({ state }));
    for (let i = 0; i < points.length; i += 1024) await write(encodeRecord({}, points.slice(i, i + 1024)));
    await write(encodeRecord({ end: points.length }));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await writeFile(`${path}.checksum`, hash.digest('hex'));
  await rename(`${path}.tmp`, path);
  return describeSnapshot(path, name);
}

export function parseSnapshot(buf: Buffer): { state: CollectionState; points: Point[] } {
  // Qdrant 1.18 answers an upload that is not a snapshot archive with a 500 (its tar reader's IO error), not a 400
  const invalid = (why: string) =>
    new QdrantError(500, `Service internal error: File IO error: Malformed snapshot archive: ${why}`);
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw invalid('not a snapshot created by this server');
  }
  let state: CollectionState | undefined;
  let count: number | undefined;
  let end = MAGIC.length;
  const points: Point[] = [];
  try {
    for (const rec of decodeRecords(buf, MAGIC.length)) {
      if (count !== undefined) throw invalid('data after the end record');
      if (!state) state = rec.meta.state as CollectionState;
      else if (typeof rec.meta.end === 'number') count = rec.meta.end;
      else points.push(...rec.points);
      end = rec.end;
    }
  } catch (err) {
    throw err instanceof QdrantError && err.status === 500
      ? err
      : invalid(err instanceof Error ? err.message : String(err));
  }
  if (!state?.config || count !== points.length || end !== buf.length) throw invalid('truncated or corrupted');
  return { state, points };
}
