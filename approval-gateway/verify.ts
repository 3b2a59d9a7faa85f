// Owns the check of a request from Slack, exactly as Slack specifies ("Verifying requests from Slack"): the
// X-Slack-Request-Timestamp is within five minutes of our clock, and X-Slack-Signature equals `v0=` + the hex
// HMAC-SHA256 of `v0:<timestamp>:<raw body>` keyed with the app's signing secret, compared in constant time; and
// (ours) each callback is taken once: a verified request's signature and its payload's trigger_id are remembered
// until the timestamp could no longer pass, and a second request with either is refused.
// Invariants: the raw body is checked before anything in it is parsed or believed; only a verified request enters
// the replay cache (a forged one cannot evict or poison it).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const MAX_AGE_SECONDS = 5 * 60;

export type Verdict = { ok: true } | { ok: false; reason: string };

/** `v0=` + hex HMAC-SHA256(secret, `v0:<timestamp>:<body>`): what Slack sends as X-Slack-Signature. */
export function slackSignature(secret: string, timestamp: string, rawBody: string | Buffer): string {
  const mac = createHmac('sha256', secret);
  mac.update(`v0:${timestamp}:`);
  mac.update(rawBody);
  return `v0=${mac.digest('hex')}`;
}

export function verifySlackRequest(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  rawBody: Buffer,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): Verdict {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature) {
    return { ok: false, reason: 'missing X-Slack-Request-Timestamp or X-Slack-Signature: not a request from Slack' };
  }
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'X-Slack-Request-Timestamp is not a Unix time' };
  const age = nowSeconds - Number(timestamp);
  if (Math.abs(age) > MAX_AGE_SECONDS) {
    return {
      ok: false,
      reason: `X-Slack-Request-Timestamp is ${age}s from now (more than ${MAX_AGE_SECONDS}s): refused as a possible replay`,
    };
  }
  const expected = Buffer.from(slackSignature(secret, timestamp, rawBody));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'X-Slack-Signature does not match the request: not signed with the signing secret' };
  }
  return { ok: true };
}

/** Keys (signatures, trigger ids) of verified callbacks, each kept until its timestamp would be refused anyway. */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(entries: Record<string, number> = {}) {
    for (const [k, until] of Object.entries(entries)) this.seen.set(k, until);
  }

  /** Records every key; false (nothing recorded) when any of them was seen before. */
  useOnce(keys: string[], timestampSeconds: number, nowMs: number = Date.now()): boolean {
    this.prune(nowMs);
    if (keys.some((k) => this.seen.has(k))) return false;
    const until = (timestampSeconds + MAX_AGE_SECONDS + 60) * 1000;
    for (const k of keys) this.seen.set(k, until);
    return true;
  }

  entries(nowMs: number = Date.now()): Record<string, number> {
    this.prune(nowMs);
    return Object.fromEntries(this.seen);
  }

  private prune(nowMs: number): void {
    for (const [k, until] of this.seen) if (until < nowMs) this.seen.delete(k);
  }
}
