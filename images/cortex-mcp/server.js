// Demo stand-in for the MCP Cortex Memory Server, baked into cortex-memory-mcp:<version> images (FROM scratch).
// GET /health -> JSON {status, version, uptimeSeconds}; 200 when healthy, 503 otherwise.
// GET /metrics -> Prometheus text. Handles SIGTERM/SIGINT (it runs as PID 1, which has no default handlers).
// Env: PORT (3000), HOST (127.0.0.1), CORTEX_VERSION, CORTEX_HEALTH = healthy | unhealthy | fail-after:<seconds>,
// POST /api/v1/memory/store {content, metadata?} -> 201 {id}; POST /api/v1/memory/find {query, limit?} -> {items}
// (items kept in memory; a substring match, newest first; a malformed body is logged as an ERROR line and answered 400).
// CORTEX_SHUTDOWN_DELAY_MS (0): how long a SIGTERM'd server takes to drain, to make stops observable in tests.
// Faults (what rollbackGuard watches), all off by default so the old behaviour is unchanged: a simulated load of
// `load` requests per /metrics scrape, `errorRate` (0..1) of them failing, each taking `latencyMs`; `db` up|down.
// Set at start by CORTEX_FAULTS='{"load":100,"errorRate":0.1}' or at run time by POST /admin/faults (same JSON,
// merged) when CORTEX_ADMIN=1 (tests only); GET /admin/faults returns them.
// /metrics: cortex_http_requests_total, cortex_http_request_errors_total, cortex_http_request_duration_seconds_sum
// and _count (counters: the watcher takes deltas between scrapes), cortex_db_connection_up (gauge 1|0),
// cortex_db_connection_errors_total. With db down, /health answers 503 with database "disconnected".
'use strict';
const http = require('node:http');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const version = process.env.CORTEX_VERSION || 'unknown';
const mode = process.env.CORTEX_HEALTH || 'healthy';
const shutdownDelayMs = Number(process.env.CORTEX_SHUTDOWN_DELAY_MS || 0);
const started = Date.now();
const admin = process.env.CORTEX_ADMIN === '1';
let requests = 0;
let errors = 0;
let durationSum = 0;
let durationCount = 0;
let dbErrors = 0;
const faults = { load: 0, errorRate: 0, latencyMs: 0, db: 'up' };
setFaults(JSON.parse(process.env.CORTEX_FAULTS || '{}'));

function setFaults(f) {
  if (typeof f !== 'object' || f === null) throw new Error('faults must be a JSON object');
  for (const [k, v] of Object.entries(f)) {
    if (k === 'db') {
      if (v !== 'up' && v !== 'down') throw new Error('db must be up or down');
    } else if (k in faults) {
      if (typeof v !== 'number' || !(v >= 0) || (k === 'errorRate' && v > 1)) throw new Error(`bad ${k}`);
    } else throw new Error(`unknown fault ${k}`);
    faults[k] = v;
  }
}

// The simulated traffic served since the last scrape (whole requests; errors rounded to the nearest request).
function simulateLoad() {
  const n = Math.round(faults.load);
  requests += n;
  errors += Math.round(n * faults.errorRate);
  durationSum += (n * faults.latencyMs) / 1000;
  durationCount += n;
  if (faults.db === 'down') dbErrors += 1;
}

function healthy() {
  if (mode === 'healthy') return true;
  if (mode.startsWith('fail-after:')) return (Date.now() - started) / 1000 < Number(mode.slice(11));
  return false;
}

const server = http.createServer((req, res) => {
  if (req.url === '/admin/faults' && admin) {
    if (req.method === 'GET') return json(res, 200, faults);
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      try {
        setFaults(JSON.parse(body || '{}'));
        json(res, 200, faults);
      } catch (err) {
        json(res, 400, { error: err.message });
      }
    });
    return;
  }
  const t0 = Date.now();
  requests += 1;
  if (req.url === '/health') {
    const ok = healthy() && faults.db === 'up';
    const body = JSON.stringify({
      status: ok ? 'healthy' : 'unhealthy',
      version,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      database: faults.db === 'up' ? 'connected' : 'disconnected',
    });
    durationSum += (Date.now() - t0) / 1000;
    durationCount += 1;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(body);
    return;
  }
  if (req.url === '/metrics') {
    simulateLoad();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      [
        '# TYPE cortex_http_requests_total counter',
        `cortex_http_requests_total ${requests}`,
        '# TYPE cortex_http_request_errors_total counter',
        `cortex_http_request_errors_total ${errors}`,
        '# TYPE cortex_http_request_duration_seconds summary',
        `cortex_http_request_duration_seconds_sum ${durationSum}`,
        `cortex_http_request_duration_seconds_count ${durationCount}`,
        '# TYPE cortex_db_connection_up gauge',
        `cortex_db_connection_up ${faults.db === 'up' ? 1 : 0}`,
        '# TYPE cortex_db_connection_errors_total counter',
        `cortex_db_connection_errors_total ${dbErrors}`,
        '# TYPE process_resident_memory_bytes gauge',
        `process_resident_memory_bytes ${process.memoryUsage().rss}`,
        '# TYPE cortex_active_sessions gauge',
        'cortex_active_sessions 0',
        '# TYPE cortex_build_info gauge',
        `cortex_build_info{version="${version}"} 1`,
        '',
      ].join('\n'),
    );
    return;
  }
  if (memoryRoutes(req, res)) return;
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"error":"not found"}');
});

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

server.listen(port, host, () => console.log(`cortex-mcp ${version} listening on ${host}:${port} (health: ${mode})`));

function shutdown(signal) {
  console.log(`cortex-mcp ${version}: ${signal}, shutting down`);
  setTimeout(() => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  }, shutdownDelayMs);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// The Cortex memory API the post-rollback verification calls: kept in this process only.
const memories = [];
function memoryRoutes(req, res) {
  if (req.method !== 'POST' || (req.url !== '/api/v1/memory/store' && req.url !== '/api/v1/memory/find')) return false;
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    let input;
    try {
      input = JSON.parse(body);
      if (typeof input !== 'object' || input === null) throw new Error('must be a JSON object');
    } catch (err) {
      console.error(`ERROR ${req.url}: invalid request body: ${err.message}`);
      return reply(res, 400, { error: `invalid request body: ${err.message}` });
    }
    if (req.url === '/api/v1/memory/store') {
      if (typeof input.content !== 'string' || input.content === '')
        return reply(res, 400, { error: 'content is required' });
      const item = {
        id: `mem-${memories.length + 1}`,
        content: input.content,
        metadata: input.metadata ?? {},
        storedAt: new Date().toISOString(),
      };
      memories.push(item);
      return reply(res, 201, { id: item.id });
    }
    const query = typeof input.query === 'string' ? input.query.toLowerCase() : '';
    const limit = Number.isInteger(input.limit) && input.limit > 0 ? input.limit : 10;
    const items = memories
      .filter((m) => m.content.toLowerCase().includes(query))
      .reverse()
      .slice(0, limit);
    return reply(res, 200, { items });
  });
  return true;
}
function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
