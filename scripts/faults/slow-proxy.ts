// An HTTP forwarder whose answers can be made slow: the request reaches the upstream at once (its side effect
// happens), the answer is held `delayMs` before it is passed on, and with `trickle` its body flows a few KiB at a
// time. Put in front of dockerd (a unix socket), Qdrant or an application's /health (TCP) so a worker can be killed
// while it waits for an answer or reads one, mid-activity.
import http from 'node:http';
import { rmSync } from 'node:fs';

export type Upstream = { socketPath: string } | { host: string; port: number };

export interface SlowProxy {
  /** DOCKER_HOST-style `unix://…` for a socket listener, or `http://127.0.0.1:port` for TCP. */
  url: string;
  delayMs: number;
  /** Answer bodies pass 4 KiB every 100 ms. */
  trickle: boolean;
  /** Answers not yet fully passed on (held back or trickling) while the proxy was slow. */
  held: number;
  /** Request bodies pass to the upstream 4 KiB every 100 ms (an upload stays in flight at the upstream). */
  trickleRequests: boolean;
  /** Exchanges with the upstream not over yet: a request still being sent to it or an answer still read from it. */
  upstreamOpen: number;
  /** Requests the upstream has not begun to answer (no status line yet): certainly in flight at the upstream. */
  awaitingAnswer: number;
  close(): Promise<void>;
}

/** Passes `from` on to `to` 4 KiB every 100 ms (either direction: an answer or a request body); a break ends both. */
function trickle(from: AsyncIterable<Buffer>, to: http.ServerResponse | http.ClientRequest): void {
  void (async () => {
    for await (const chunk of from) {
      for (let i = 0; i < chunk.length; i += 4096) {
        if (to.destroyed) return;
        to.write(chunk.subarray(i, i + 4096));
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    to.end();
  })().catch(() => to.destroy());
}

export async function startSlowProxy(
  upstream: Upstream,
  listen: { socketPath: string } | { port: 0 },
): Promise<SlowProxy> {
  const state = { delayMs: 0, held: 0, trickle: false, trickleRequests: false, upstreamOpen: 0, awaitingAnswer: 0 };
  const server = http.createServer((req, res) => {
    const up = http.request({ ...upstream, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      const pass = () => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (!state.trickle) return void upRes.pipe(res);
        trickle(upRes, res);
      };
      if (state.delayMs > 0 || state.trickle) {
        state.held += 1;
        res.once('close', () => (state.held -= 1));
      }
      if (state.delayMs <= 0) return pass();
      setTimeout(pass, state.delayMs);
    });
    // open until the upstream's answer has been read to its end (or the exchange broke)
    state.upstreamOpen += 1;
    state.awaitingAnswer += 1;
    let awaiting = true;
    const answered = () => {
      if (!awaiting) return;
      awaiting = false;
      state.awaitingAnswer -= 1;
    };
    up.once('response', answered);
    up.once('error', answered);
    up.once('close', answered);
    let open = true;
    const over = () => {
      if (!open) return;
      open = false;
      state.upstreamOpen -= 1;
    };
    up.once('response', (upRes) => {
      upRes.once('end', over);
      upRes.once('close', over);
    });
    up.once('error', over);
    res.once('close', () => setImmediate(() => up.destroyed && over()));
    up.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    if (!state.trickleRequests) return void req.pipe(up);
    trickle(req, up);
  });
  if ('socketPath' in listen) rmSync(listen.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('socketPath' in listen) server.listen(listen.socketPath, resolve);
    else server.listen(0, '127.0.0.1', resolve);
  });
  const addr = server.address();
  const url =
    'socketPath' in listen
      ? `unix://${listen.socketPath}`
      : `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    get trickle() {
      return state.trickle;
    },
    set trickle(on: boolean) {
      state.trickle = on;
    },
    get held() {
      return state.held;
    },
    get trickleRequests() {
      return state.trickleRequests;
    },
    set trickleRequests(on: boolean) {
      state.trickleRequests = on;
    },
    get upstreamOpen() {
      return state.upstreamOpen;
    },
    get awaitingAnswer() {
      return state.awaitingAnswer;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
