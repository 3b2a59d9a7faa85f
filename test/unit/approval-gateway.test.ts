// The approval gateway's pure parts: the request check against Slack's published example ("Verifying requests
// from Slack": secret, timestamp, body and the signature Slack computed), the five-minute window, a forged or
// missing signature, the replay cache (each callback once, forgotten only when its timestamp could not pass
// again), the roster's Slack ids (one person per Slack user, the committed placeholders) and the role a person
// decides with; the decision statement's update carries the verified Slack user, no secret.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseApprovalPolicy, personOfSlackUser, PolicyError } from '../../common/approval-policy.ts';
import { roleFor } from '../../approval-gateway/decisions.ts';
import { decideUpdateOf } from '../../approval-gateway/statement.ts';
import { MAX_AGE_SECONDS, ReplayCache, slackSignature, verifySlackRequest } from '../../approval-gateway/verify.ts';
import { loadGatewaySettings } from '../../approval-gateway/config.ts';
import { APPROVER, REQUESTER, RUNBOOK_APPROVAL_POLICY } from '../helpers/approval-policy.ts';
import type { ApprovalRequest } from '../../workflows/phases/approval.ts';

// Slack's worked example, verbatim from its documentation
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TS = '1531420618';
const BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

const committed = () => parseApprovalPolicy(JSON.parse(readFileSync(RUNBOOK_APPROVAL_POLICY, 'utf8')));

describe('approval gateway: verifying requests from Slack', () => {
  it("computes Slack's published example signature and accepts it at its own time", () => {
    assert.equal(slackSignature(SECRET, TS, BODY), SIGNATURE);
    assert.deepEqual(
      verifySlackRequest(SECRET, { timestamp: TS, signature: SIGNATURE }, Buffer.from(BODY), Number(TS)),
      { ok: true },
    );
  });

  it('refuses a signature made with another secret, a changed body, a missing header', () => {
    const at = Number(TS);
    const other = slackSignature('not-the-secret', TS, BODY);
    for (const [sig, body] of [
      [other, BODY],
      [SIGNATURE, BODY.replace('roadrunner', 'coyote')],
      [SIGNATURE.slice(0, -1), BODY],
    ] as const) {
      const v = verifySlackRequest(SECRET, { timestamp: TS, signature: sig }, Buffer.from(body), at);
      assert.deepEqual(v, {
        ok: false,
        reason: 'X-Slack-Signature does not match the request: not signed with the signing secret',
      });
    }
    const none = verifySlackRequest(SECRET, { timestamp: TS, signature: undefined }, Buffer.from(BODY), at);
    assert.equal(none.ok, false);
  });

  it('refuses a correctly signed request more than five minutes from now, either way; accepts at the edge', () => {
    const at = Number(TS);
    const headers = { timestamp: TS, signature: SIGNATURE };
    assert.equal(verifySlackRequest(SECRET, headers, Buffer.from(BODY), at + MAX_AGE_SECONDS).ok, true);
    const late = verifySlackRequest(SECRET, headers, Buffer.from(BODY), at + MAX_AGE_SECONDS + 1);
    assert.deepEqual(late, {
      ok: false,
      reason: 'X-Slack-Request-Timestamp is 301s from now (more than 300s): refused as a possible replay',
    });
    assert.equal(verifySlackRequest(SECRET, headers, Buffer.from(BODY), at - MAX_AGE_SECONDS - 1).ok, false);
    assert.equal(verifySlackRequest(SECRET, { ...headers, timestamp: '1e9' }, Buffer.from(BODY), at).ok, false);
  });

  it('the replay cache takes each signature and trigger id once, until the timestamp could not pass again', () => {
    const at = 1_700_000_000;
    const cache = new ReplayCache();
    assert.equal(cache.useOnce(['sig:a', 'trigger:1'], at, at * 1000), true);
    assert.equal(cache.useOnce(['sig:a'], at, at * 1000 + 1000), false, 'the same signature');
    assert.equal(cache.useOnce(['sig:b', 'trigger:1'], at, at * 1000 + 1000), false, 'the same trigger id');
    assert.equal(cache.useOnce(['sig:b'], at, at * 1000 + 1000), true, 'a refused use records nothing');
    // still remembered while a request with that timestamp would pass the window, restored from its entries
    const restored = new ReplayCache(cache.entries(at * 1000));
    assert.equal(restored.useOnce(['sig:a'], at, (at + MAX_AGE_SECONDS) * 1000), false);
    assert.equal(restored.useOnce(['sig:a'], at, (at + MAX_AGE_SECONDS + 61) * 1000), true);
  });
});

describe('approval gateway: the roster’s Slack ids', () => {
  it('the committed policy gives every person but the automation a distinct placeholder Slack id', () => {
    const p = committed();
    const ids = Object.entries(p.people).map(([k, v]) => [k, v.slack]);
    assert.deepEqual(
      ids.filter(([, s]) => s === undefined).map(([k]) => k),
      ['ci-deploy-gate'],
    );
    const slackIds = ids.map(([, s]) => s).filter(Boolean) as string[];
    assert.equal(new Set(slackIds).size, slackIds.length);
    assert.ok(
      slackIds.every((s) => s.startsWith('U0PLACE')),
      'placeholders, documented as such',
    );
    assert.equal(personOfSlackUser(p, p.people[APPROVER.application.approver]!.slack!), 'oncall-eng');
    assert.equal(personOfSlackUser(p, 'U0NOBODY'), undefined);
  });

  it('refuses a policy giving one Slack user to two people, or a Slack id that is not one', () => {
    const raw = JSON.parse(readFileSync(RUNBOOK_APPROVAL_POLICY, 'utf8')) as {
      people: Record<string, { slack?: string }>;
    };
    raw.people['vp-eng']!.slack = raw.people['oncall-eng']!.slack;
    assert.throws(() => parseApprovalPolicy(raw), {
      name: PolicyError.name,
      message: /people\.vp-eng\.slack: Slack user U0PLACE0001 is already 'oncall-eng'/,
    });
    raw.people['vp-eng']!.slack = '@vp-eng';
    assert.throws(() => parseApprovalPolicy(raw), /people\.vp-eng\.slack: a Slack user id/);
  });

  it('a person decides with the required role the roster gives them, else one the request allows', () => {
    const p = committed();
    const req: ApprovalRequest = {
      requiredRole: 'on-call-engineer',
      rollbackType: 'application',
      deadline: '2026-01-01T00:00:00.000Z',
      approverRoles: ['on-call-engineer', 'engineering-manager', 'director-of-engineering', 'vp-engineering'],
    };
    assert.equal(roleFor(p, 'oncall-eng', req), 'on-call-engineer');
    assert.equal(roleFor(p, 'eng-manager', req), 'engineering-manager');
    // none allowed: their first role, and the gate's validator says why it may not decide
    assert.equal(roleFor(p, REQUESTER, req), 'engineer');
  });
});

describe('approval gateway: the decision statement and the configuration', () => {
  it('the update names the roster person and the verified Slack user, nothing else of Slack', () => {
    const u = decideUpdateOf({
      workflowId: 'rollback-docker-x',
      runId: 'r1',
      decision: 'approve',
      approver: 'oncall-eng',
      role: 'on-call-engineer',
      at: '2026-01-01T00:00:00.000Z',
      via: { channel: 'slack', slackUserId: 'U0PLACE0001' },
    });
    assert.deepEqual(u, {
      decision: 'approve',
      approver: 'oncall-eng',
      role: 'on-call-engineer',
      comment: 'approved via Slack, user U0PLACE0001',
    });
  });

  it('fails fast naming the missing secret; the secrets are never in the message', () => {
    assert.throws(() => loadGatewaySettings({}), /CORTEX_SLACK_SIGNING_SECRET is required/);
    assert.throws(
      () => loadGatewaySettings({ CORTEX_SLACK_SIGNING_SECRET: 's3cr3t-value' }),
      (e: Error) => /CORTEX_SLACK_BOT_TOKEN is required/.test(e.message) && !e.message.includes('s3cr3t-value'),
    );
    const s = loadGatewaySettings({
      CORTEX_SLACK_SIGNING_SECRET: 's',
      CORTEX_SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
      CORTEX_SLACK_CHANNEL: 'C0ROLLBACK',
    });
    assert.equal(s.slackApiUrl, 'https://slack.com/api');
    assert.equal(s.host, '127.0.0.1');
  });
});
