// Qdrant transfer benchmark (figures printed, never asserted), by default on a real Qdrant 1.18.3 server process of
// its own (test/helpers/qdrant-server.ts: the binary `npm run provision` caches, free ports, its own storage, removed
// after) at the runbook's size, 100k points × 1536 dims (ada-002):
//  a. export + import through the workflow — the schema rollback's resumable scroll→upsert copy step, run by a worker
//     process — against a plain scroll/upsert loop with the same batch size in this process, A B A B in one run:
//     throughput ratio (target >= 0.9x);
//  b. the data recovery workflow (qdrantDataRecovery) restoring a real backup that the qdrantBackup workflow took
//     (a server snapshot streamed to the backup directory), against the server's own snapshot recovery of the same
//     file: the same upload (POST /collections/{name}/snapshots/upload?priority=snapshot, with the checksum, as
//     the restore activity sends it) by curl, A B A B: time ratio of the restore step (target <= 1.3x), and the
//     whole workflow's time beside it;
//  c. the worker's peak RSS (VmHWM) running the schema rollback at two sizes (default 25k and 100k: flat).
// Every approval is a pre-approval by a roster approver of the committed policy (config/approval-policy.json), the
// requester another roster person. The table is printed and written to bench/results/qdrant-transfer.md (--out).
// `--double` runs on the Qdrant double instead; QDRANT_URL (and QDRANT_API_KEY) on your own server.
// Usage: node --import tsx bench/qdrant-transfer.bench.ts [--points 100000] [--dim 1536] [--batch 256]
//        [--rss-small 25000] [--rss-large 100000] [--only ab|recovery|rss[,…]] [--double] [--out FILE]
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { QdrantClient } from '@qdrant/js-client-rest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { BackupResult } from '../workflows/database/qdrant-backup.ts';
import type { QdrantRecoveryResult } from '../workflows/database/data-recovery.ts';
import type { QdrantSchemaRollbackResult } from '../workflows/database/schema.ts';
import type { StepRecord } from '../workflows/phases/progress.ts';
import { APPROVER, REQUESTER } from '../test/helpers/approval-policy.ts';
import { startTestQdrant, type TestQdrant } from '../test/helpers/qdrant.ts';
import { startQdrantServer } from '../test/helpers/qdrant-server.ts';
import { localEnv, uniqueQueue } from '../test/helpers/temporal.ts';
import { spawnWorker } from '../test/helpers/worker-process.ts';
import { PROJECT_ROOT } from '../common/tools.ts';

const SOURCE = 'bench-src';
const BACKUP = 'bench-backup';
/**
 * No HNSW index on the bench's collections (the workflow's copy target is created like its source, so it has none
 * either): on 2 shared cores Qdrant took over 6 minutes to index a third of 100k × 1536 random vectors, and an
 * index building behind a measurement is noise in it. The transfers move the same vectors and payloads either way;
 * an HNSW graph (m 16) adds about 2 % to a snapshot of this size.
 */
const NO_INDEX = { indexing_threshold: 0 };
/** Who asks and who pre-approves: roster people of the committed policy, never the same (four eyes). */
const WHO = { requestedBy: REQUESTER, reason: 'bench', approval: { preApproved: APPROVER.database } };

interface Cfg {
  n: number;
  dim: number;
  batch: number;
}

const ms = (x: number) => `${(x / 1000).toFixed(x < 10_000 ? 2 : 1)} s`;
const rate = (n: number, x: number) => `${((n / x) * 1000).toFixed(0)} points/s`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/**
 * A pseudo-random unit vector for `id` (mulberry32), 6 decimals (Qdrant stores float32 anyway; the JSON is half as
 * long). Not test/helpers' vectorFor: at 1536 dims its vectors are nearly collinear (top cosine 0.9999999999), so a
 * point's nearest neighbours are decided below float32 resolution and the known-answer check after a restore is a
 * coin toss; here neighbours stand apart as real embeddings' do.
 */
function benchVector(id: number, dim: number): number[] {
  let a = Math.imul(id, 0x9e3779b9) >>> 0;
  const v = new Array<number>(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const x = ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
    v[i] = x;
    norm += x * x;
  }
  norm = Math.sqrt(norm);
  return v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

/** Seeds `n` points of `dim` dims in batches, two requests in flight, then waits until the collection is indexed. */
async function seed(client: QdrantClient, collection: string, cfg: Cfg): Promise<number> {
  const t = performance.now();
  await client.createCollection(collection, {
    vectors: { size: cfg.dim, distance: 'Cosine' },
    optimizers_config: NO_INDEX,
  });
  const batch = Math.max(1, Math.min(256, Math.floor(2_000_000 / cfg.dim))); // ~8 MiB of JSON per request
  const send = async (from: number): Promise<void> => {
    const points = [];
    for (let id = from; id < Math.min(cfg.n + 1, from + batch); id++)
      points.push({ id, vector: benchVector(id, cfg.dim), payload: { content: `memory item ${id}` } });
    await client.upsert(collection, { wait: true, points });
  };
  const inFlight = new Set<Promise<void>>();
  for (let from = 1; from <= cfg.n; from += batch) {
    const p = send(from).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 2) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await waitGreen(client, collection);
  return performance.now() - t;
}

/** Until the collection's optimizers are idle (green twice, a second apart), so no indexing runs under a measurement. */
async function waitGreen(client: QdrantClient, collection: string, timeoutMs = 30 * 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let greens = 0;
  while (greens < 2) {
    if (Date.now() > end) throw new Error(`'${collection}' did not turn green within ${timeoutMs / 1000} s`);
    const info = await client.getCollection(collection);
    greens = info.status === 'green' ? greens + 1 : 0;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Removes every collection but `keep` (their aliases go with them): no leftover copy indexes under the next run. */
async function dropAllBut(client: QdrantClient, keep: string[]): Promise<void> {
  for (const c of (await client.getCollections()).collections)
    if (!keep.includes(c.name)) await client.deleteCollection(c.name);
}

/** Removes the pre-rollback backups the workflows took (hundreds of MiB each at the default size). */
async function dropPreRollbackBackups(backups: string): Promise<void> {
  for (const coll of await readdir(backups).catch(() => [] as string[]))
    for (const name of await readdir(join(backups, coll)).catch(() => [] as string[]))
      if (name.startsWith('pre-rollback-') || name === '_exports')
        await rm(join(backups, coll, name), { recursive: true, force: true });
}

/** The real Qdrant 1.18.3 server process of this run (default), QDRANT_URL's server, or the double. */
type BenchQdrant = Pick<TestQdrant, 'url' | 'apiKey' | 'client' | 'tmp' | 'stop'>;

async function startBenchQdrant(double: boolean): Promise<BenchQdrant> {
  // no fault proxy in the path: the figures are the server's and the workflow's
  if (double) return startTestQdrant({ double: true });
  const external = process.env.QDRANT_URL;
  if (external) {
    const apiKey = process.env.QDRANT_API_KEY || undefined;
    const tmp = await mkdtemp(join(tmpdir(), 'cortex-qbench-'));
    return {
      url: external,
      ...(apiKey ? { apiKey } : {}),
      client: new QdrantClient({ url: external, ...(apiKey ? { apiKey } : {}), checkCompatibility: false }),
      tmp,
      stop: () => rm(tmp, { recursive: true, force: true }),
    };
  }
  const server = await startQdrantServer();
  const tmp = await mkdtemp(join(tmpdir(), 'cortex-qbench-'));
  console.log(`real Qdrant 1.18.3 at ${server.url} (storage ${server.storagePath})`);
  return {
    url: server.url,
    client: server.client,
    tmp,
    stop: async () => {
      await server.stop();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

interface Run<R> {
  result: R;
  totalMs: number;
  peakRssBytes: number;
}

/** Runs one workflow on a worker process of its own and reads that process's peak RSS before ending it. */
async function inWorker<R>(
  env: TestWorkflowEnvironment,
  q: BenchQdrant,
  type: string,
  input: unknown,
): Promise<Run<R>> {
  const taskQueue = uniqueQueue('qbench');
  const w = spawnWorker({
    address: env.address,
    taskQueue,
    extra: {
      QDRANT_URL: q.url,
      ...(q.apiKey ? { QDRANT_API_KEY: q.apiKey } : {}),
      CORTEX_BACKUP_DIR: join(q.tmp, 'backups'),
    },
  });
  try {
    await w.ready;
    const t = performance.now();
    const result = (await env.client.workflow.execute(type, {
      taskQueue,
      workflowId: uniqueQueue(`bench-${type}`),
      args: [input],
    })) as R;
    const totalMs = performance.now() - t;
    const status = await readFile(`/proc/${w.proc.pid}/status`, 'utf8');
    const peakRssBytes = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    return { result, totalMs, peakRssBytes };
  } finally {
    await w.kill();
  }
}

function stepMs(timeline: StepRecord[], match: (name: string) => boolean): number {
  const s = timeline.find((x) => match(x.name));
  if (!s?.endedAt) throw new Error(`no finished step matching ${String(match)} in the timeline`);
  return Date.parse(s.endedAt) - Date.parse(s.startedAt);
}

/** The schema rollback of alias → `SOURCE`'s copy to a Dot collection, through the workflow. */
async function schemaRollback(env: TestWorkflowEnvironment, q: BenchQdrant, alias: string, source: string, cfg: Cfg) {
  await q.client.updateCollectionAliases({
    actions: [{ create_alias: { alias_name: alias, collection_name: source } }],
  });
  const run = await inWorker<QdrantSchemaRollbackResult>(env, q, 'qdrantSchemaRollback', {
    collection: alias,
    target: { size: cfg.dim, distance: 'Dot' },
    batchSize: cfg.batch,
    ...WHO,
  });
  if (run.result.outcome !== 'succeeded') throw new Error(`schema rollback did not succeed: ${run.result.outcome}`);
  return { ...run, copyMs: stepMs(run.result.timeline, (n) => n.startsWith('copy ')) };
}

async function plainLoop(client: QdrantClient, source: string, target: string, cfg: Cfg): Promise<number> {
  await client.createCollection(target, { vectors: { size: cfg.dim, distance: 'Dot' }, optimizers_config: NO_INDEX });
  const t = performance.now();
  let offset: string | number | null | undefined = undefined;
  do {
    const page = await client.scroll(source, {
      limit: cfg.batch,
      with_payload: true,
      with_vector: true,
      ...(offset != null ? { offset } : {}),
    });
    if (page.points.length) {
      await client.upsert(target, {
        wait: true,
        points: page.points.map((p) => ({ id: p.id, vector: p.vector as number[], payload: p.payload ?? {} })),
      });
    }
    offset = page.next_page_offset as string | number | null | undefined;
  } while (offset != null);
  return performance.now() - t;
}

/** The server's own snapshot recovery of `file` over `collection`: the restore activity's upload, by curl. */
async function serverRecovery(q: BenchQdrant, collection: string, file: string, checksum: string): Promise<number> {
  const url = `${q.url}/collections/${collection}/snapshots/upload?priority=snapshot&wait=true&checksum=${checksum}`;
  const t = performance.now();
  await execa('curl', [
    '-sS',
    '--fail-with-body',
    '-X',
    'POST',
    ...(q.apiKey ? ['-H', `api-key: ${q.apiKey}`] : []),
    url,
    '-F',
    `snapshot=@${file}`,
  ]);
  return performance.now() - t;
}

async function sha256Ms(file: string): Promise<number> {
  const t = performance.now();
  await pipeline(createReadStream(file), createHash('sha256'));
  return performance.now() - t;
}

type Row = [figure: string, result: string, target: string];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      points: { type: 'string', default: '100000' },
      dim: { type: 'string', default: '1536' },
      batch: { type: 'string', default: '256' },
      'rss-small': { type: 'string', default: '25000' },
      'rss-large': { type: 'string' },
      only: { type: 'string' },
      double: { type: 'boolean', default: false },
      real: { type: 'boolean' }, // the default now; kept for older command lines
      out: { type: 'string', default: join(PROJECT_ROOT, 'bench', 'results', 'qdrant-transfer.md') },
    },
  });
  const cfg: Cfg = { n: Number(values.points), dim: Number(values.dim), batch: Number(values.batch) };
  for (const [k, v] of Object.entries(cfg))
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
  const rssSizes = [Number(values['rss-small']), Number(values['rss-large'] ?? cfg.n)];
  const parts = new Set((values.only ?? 'ab,recovery,rss').split(','));
  for (const p of parts) if (!['ab', 'recovery', 'rss'].includes(p)) throw new Error(`--only: unknown part '${p}'`);
  const started = performance.now();
  const argv = process.argv.slice(2).join(' ');
  const startedAt = new Date().toISOString();
  const load0 = loadavg()[0]!;
  const rows: Row[] = [];
  const notes: string[] = [];
  const logged: string[] = [];
  const log = (s: string) => {
    console.log(s);
    logged.push(s);
  };

  const env = await localEnv();
  const q = await startBenchQdrant(values.double === true);
  // an interrupted run still ends its servers and removes its temp dirs
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      console.error(`${sig}: stopping the Qdrant and Temporal servers of this run`);
      void Promise.allSettled([q.stop(), env.teardown()]).then(() => process.exit(130));
    });
  const server = values.double ? 'the Qdrant double' : process.env.QDRANT_URL ? q.url : 'a real Qdrant 1.18.3 server';
  const backups = join(q.tmp, 'backups');
  const size = `${cfg.n / 1000}k × ${cfg.dim}`;
  let copyRss: number | undefined;
  try {
    const needSource = parts.has('ab') || parts.has('recovery') || rssSizes.includes(cfg.n);
    if (needSource) {
      log(`seeding ${cfg.n} points × ${cfg.dim} dims …`);
      const seedMs = await seed(q.client, SOURCE, cfg);
      log(`   seeded, optimizers idle, in ${ms(seedMs)}`);
      notes.push(
        `seeding ${size} (batched upserts, 2 in flight, no HNSW index: see NO_INDEX in the bench) and waiting for green: ${ms(seedMs)}`,
      );
    }

    if (parts.has('ab')) {
      log(`\na. export + import of ${size}, batches of ${cfg.batch}, 2 pairs (A B A B)`);
      const ratios: number[] = [];
      const detail: string[] = [];
      for (const round of [1, 2]) {
        const wf = await schemaRollback(env, q, `bench-${round}`, SOURCE, cfg);
        await dropAllBut(q.client, [SOURCE]);
        await dropPreRollbackBackups(backups);
        const plain = await plainLoop(q.client, SOURCE, `bench-plain-${round}`, cfg);
        await dropAllBut(q.client, [SOURCE]);
        copyRss = Math.max(copyRss ?? 0, wf.peakRssBytes);
        ratios.push(plain / wf.copyMs);
        detail.push(`${rate(cfg.n, wf.copyMs)} vs ${rate(cfg.n, plain)}`);
        log(
          `   pair ${round}: A workflow copy step ${ms(wf.copyMs)} (${rate(cfg.n, wf.copyMs)}; whole workflow incl. pre-rollback backup and verification ${ms(wf.totalMs)})` +
            ` | B plain scroll/upsert loop ${ms(plain)} (${rate(cfg.n, plain)}) | throughput A/B ${(plain / wf.copyMs).toFixed(2)}x`,
        );
      }
      rows.push([
        `throughput, workflow copy step vs plain scroll/upsert loop (${size}, batches of ${cfg.batch})`,
        `${detail.join(' and ')}: **${ratios.map((r) => `${r.toFixed(2)}x`).join(', ')}**`,
        '≥ 0.9x',
      ]);
    }

    if (parts.has('recovery')) {
      log(`\nb. data recovery of ${size} from a backup the backup workflow took, 2 pairs (A B A B)`);
      const backup = await inWorker<BackupResult>(env, q, 'qdrantBackup', {
        collection: SOURCE,
        mode: 'backup',
        backupName: BACKUP,
      });
      const m = backup.result.manifest;
      const file = join(backups, SOURCE, BACKUP, m.snapshotFile);
      log(`   backup workflow: ${mib(m.sizeBytes)} snapshot, ${m.pointsCount} points, in ${ms(backup.totalMs)}`);
      notes.push(
        `the backup restored: taken by the qdrantBackup workflow in ${ms(backup.totalMs)} (${mib(m.sizeBytes)})`,
      );
      const ratios: number[] = [];
      const detail: string[] = [];
      const totals: number[] = [];
      let pre = 0;
      let recoveryRss = 0;
      for (const round of [1, 2]) {
        const wf = await inWorker<QdrantRecoveryResult>(env, q, 'qdrantDataRecovery', {
          collection: SOURCE,
          backup: BACKUP,
          emergencyExport: false, // the NDJSON export is the scroll measured in (a); not the restore
          ...WHO,
        });
        const r = wf.result;
        if (r.outcome !== 'succeeded' || r.after?.pointsCount !== cfg.n)
          throw new Error(`data recovery did not succeed: ${r.outcome}, ${r.after?.pointsCount} points`);
        const restoreMs = stepMs(r.timeline, (n) => n === 'restore-backup');
        pre = stepMs(r.timeline, (n) => n.endsWith(': snapshot')) + stepMs(r.timeline, (n) => n.endsWith(': download'));
        recoveryRss = Math.max(recoveryRss, wf.peakRssBytes);
        await dropPreRollbackBackups(backups);
        await waitGreen(q.client, SOURCE);
        const serverMs = await serverRecovery(q, SOURCE, file, m.checksum);
        const after = (await q.client.count(SOURCE, { exact: true })).count;
        if (after !== cfg.n) throw new Error(`the server's recovery left ${after} points`);
        await waitGreen(q.client, SOURCE);
        ratios.push(restoreMs / serverMs);
        totals.push(wf.totalMs);
        detail.push(`${ms(restoreMs)} vs ${ms(serverMs)}`);
        log(
          `   pair ${round}: A workflow restore step ${ms(restoreMs)} (whole workflow ${ms(wf.totalMs)}: pre-rollback snapshot + download ${ms(pre)})` +
            ` | B server snapshot upload ${ms(serverMs)} | time A/B ${(restoreMs / serverMs).toFixed(2)}x`,
        );
      }
      const hash = await sha256Ms(file);
      log(`   sha256 of the ${mib(m.sizeBytes)} snapshot in this process: ${ms(hash)}`);
      rows.push([
        `data recovery: workflow restore step vs the server's snapshot upload of the same file (${size}, ${mib(m.sizeBytes)} snapshot)`,
        `${detail.join(' and ')}: **${ratios.map((r) => `${r.toFixed(2)}x`).join(', ')}**`,
        '≤ 1.3x',
      ]);
      rows.push([
        'same, the whole recovery workflow (verify, pre-rollback backup, restore, readiness, count, known answers)',
        `${totals.map(ms).join(', ')} (of which pre-rollback snapshot + download ${ms(pre)}; sha256 of the file alone ${ms(hash)})`,
        'context',
      ]);
      rows.push(['worker peak RSS, recovery workflow', mib(recoveryRss), 'flat (the file is streamed)']);
    }

    if (parts.has('rss')) {
      log(`\nc. worker peak RSS (VmHWM) for the schema rollback at ${rssSizes.join(' and ')} points × ${cfg.dim}`);
      const rss: Array<[number, number]> = [];
      for (const points of rssSizes) {
        let peak: number;
        if (points === cfg.n && copyRss !== undefined) {
          peak = copyRss; // measured in (a): the same workflow on the same collection
        } else {
          const src = points === cfg.n ? SOURCE : `rss-${points}`;
          if (src !== SOURCE) {
            log(`   seeding ${points} points …`);
            await seed(q.client, src, { ...cfg, n: points });
          }
          peak = (await schemaRollback(env, q, `rss-alias-${points}`, src, { ...cfg, n: points })).peakRssBytes;
          await dropAllBut(q.client, parts.has('recovery') || src === SOURCE ? [SOURCE] : []);
          await dropPreRollbackBackups(backups);
        }
        rss.push([points, peak]);
        log(`   ${points} points: ${mib(peak)}`);
      }
      const ratio = rss[1]![1] / rss[0]![1];
      log(`   ratio large/small: ${ratio.toFixed(2)}  target: flat (about 1.0)`);
      rows.push([
        `worker peak RSS, schema rollback at ${rss.map(([p]) => `${p / 1000}k`).join(' vs ')} × ${cfg.dim}`,
        `${rss.map(([, b]) => mib(b)).join(' vs ')} (${ratio.toFixed(2)})`,
        'flat',
      ]);
    }
  } finally {
    await q.stop();
    await env.teardown();
  }

  const wall = performance.now() - started;
  const table = [
    '| figure | result | target |',
    '| --- | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
  const text =
    `Qdrant transfer bench (${startedAt}, ${server}, ${cfg.n} points × ${cfg.dim} dims, batches of ${cfg.batch}; ` +
    `${argv ? `\`${argv}\`, ` : ''}wall ${ms(wall)}; load average ${load0.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end):\n\n` +
    `${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n\n` +
    `<details><summary>the run's log</summary>\n\n\`\`\`\n${logged.join('\n').trim()}\n\`\`\`\n\n</details>\n`;
  console.log(`\n${text}`);
  await mkdir(dirname(values.out), { recursive: true });
  await writeFile(values.out, text);
  console.log(`written to ${values.out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
