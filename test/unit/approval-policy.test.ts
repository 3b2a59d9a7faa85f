// The committed approval policy (config/approval-policy.json) against the runbook: every row of the approval
// matrix (type × role → allowed or refused), the roster (unknown people, roles the roster does not give), four
// eyes, the over-1-hour impact rule, the windows from the runbook's durations, the escalation's widened approvers,
// and the loader's refusals of a broken policy file (each offending path named, a permanent failure).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readApprovalPolicy } from '../../activities/approval-policy.ts';
import { startFromArgs } from '../../client/cli.ts';
import {
  acknowledgementRefusal,
  decisionRefusal,
  escalatedApprovers,
  parseApprovalPolicy,
  PolicyError,
  ROLLBACK_TYPES,
  rulesFor,
  type ApprovalPolicy,
  type PolicyRollbackType,
} from '../../common/approval-policy.ts';
import { legacyApprovalRefusal } from '../../common/roles.ts';
import { InputError, validatePreApproval } from '../../workflows/phases/validation.ts';
import { RUNBOOK_APPROVAL_POLICY } from '../helpers/temporal.ts';
import { OPEN_TEST_POLICY } from './open-policy.ts';

const raw = JSON.parse(readFileSync(RUNBOOK_APPROVAL_POLICY, 'utf8')) as Record<string, unknown>;
const policy: ApprovalPolicy = parseApprovalPolicy(raw);

/** A roster person holding each role (the committed roster). */
const HOLDER: Record<string, string> = {
  engineer: 'oncall-eng',
  'on-call-engineer': 'oncall-eng',
  'tech-lead': 'tech-lead',
  'engineering-manager': 'eng-manager',
  'director-of-engineering': 'director-eng',
  'vp-engineering': 'vp-eng',
};

/** The runbook's Rollback Classification / Appendix B, role by role (required role or higher). */
const MATRIX: Record<PolicyRollbackType, Record<string, boolean>> = {
  application: {
    engineer: false,
    'on-call-engineer': true,
    'tech-lead': false,
    'engineering-manager': true,
    'director-of-engineering': true,
    'vp-engineering': true,
  },
  database: {
    engineer: false,
    'on-call-engineer': false,
    'tech-lead': false,
    'engineering-manager': true,
    'director-of-engineering': true,
    'vp-engineering': true,
  },
  configuration: {
    engineer: false,
    'on-call-engineer': true,
    'tech-lead': false,
    'engineering-manager': true,
    'director-of-engineering': true,
    'vp-engineering': true,
  },
  infrastructure: {
    engineer: false,
    'on-call-engineer': false,
    'tech-lead': false,
    'engineering-manager': false,
    'director-of-engineering': true,
    'vp-engineering': true,
  },
  emergency: {
    engineer: true,
    'on-call-engineer': true,
    'tech-lead': true,
    'engineering-manager': true,
    'director-of-engineering': true,
    'vp-engineering': true,
  },
};

const judge = (
  type: PolicyRollbackType,
  approver: string,
  role: string,
  escalated = false,
  impact?: number,
  escalationKeepsImpactRule = true,
) =>
  decisionRefusal(
    policy,
    rulesFor(policy, type, impact === undefined ? {} : { expectedImpactMinutes: impact }),
    { approver, role },
    { requestedBy: 'ci:deploy', escalated, escalationKeepsImpactRule },
  );

describe('approval policy: the approval matrix of the runbook', () => {
  it('declares exactly the roles of the matrix', () => {
    assert.deepEqual([...policy.roles].sort(), Object.keys(HOLDER).sort());
  });
  for (const type of ROLLBACK_TYPES) {
    for (const [role, allowed] of Object.entries(MATRIX[type])) {
      it(`${type} × ${role} → ${allowed ? 'allowed' : 'refused'}`, () => {
        const refusal = judge(type, HOLDER[role]!, role);
        if (allowed) assert.equal(refusal, undefined);
        else assert.match(refusal ?? '', new RegExp(`role '${role}' may not decide an? ${type} rollback`));
      });
    }
  }
  it('the required role of each type is the one the runbook names', () => {
    const required = Object.fromEntries(ROLLBACK_TYPES.map((t) => [t, policy.types[t].requiredRole]));
    assert.deepEqual(required, {
      application: 'on-call-engineer',
      database: 'engineering-manager',
      configuration: 'on-call-engineer',
      infrastructure: 'director-of-engineering',
      emergency: 'engineer',
    });
    assert.equal(policy.types.emergency.mode, 'acknowledge');
  });
});

describe('approval policy: roster, four eyes, impact, windows, escalation', () => {
  it('refuses a person not in the roster, and a role the roster does not give them', () => {
    assert.match(judge('application', 'mallory', 'on-call-engineer') ?? '', /'mallory' is not in the approval roster/);
    assert.match(
      judge('database', 'oncall-eng', 'engineering-manager') ?? '',
      /the roster does not give 'oncall-eng' the role 'engineering-manager'/,
    );
    assert.match(judge('application', 'oncall-eng', 'root') ?? '', /unknown role 'root'/);
    assert.match(judge('application', '', 'on-call-engineer') ?? '', /approver is required/);
  });
  it('finds a person by Slack handle too', () => {
    assert.equal(judge('application', '@oncall-eng', 'on-call-engineer'), undefined);
  });
  it('four eyes: the requester may not decide, by id or by handle', () => {
    const rules = rulesFor(policy, 'application');
    for (const requestedBy of ['oncall-eng', '@oncall-eng']) {
      for (const approver of ['oncall-eng', '@oncall-eng']) {
        assert.match(
          decisionRefusal(policy, rules, { approver, role: 'on-call-engineer' }, { requestedBy, escalated: false }) ??
            '',
          /requested this rollback and may not decide it \(four eyes\)/,
        );
      }
    }
  });
  it('expected impact over 1 hour needs an engineering manager or higher', () => {
    assert.equal(judge('application', 'oncall-eng', 'on-call-engineer', false, 60), undefined);
    assert.match(
      judge('application', 'oncall-eng', 'on-call-engineer', false, 61) ?? '',
      /needs 'engineering-manager'.*expected impact 61 min > 60 min/,
    );
    assert.equal(judge('application', 'eng-manager', 'engineering-manager', false, 61), undefined);
    // database's longest duration (120 min) is over the threshold: the rule holds without an estimate
    assert.equal(rulesFor(policy, 'database').impactRuleApplied?.startsWith('expected impact 120 min'), true);
  });
  it('windows come from the runbook durations: the shortest first, the rest after escalation', () => {
    for (const [type, [min, max]] of [
      ['application', [15, 30]],
      ['database', [30, 120]],
      ['configuration', [5, 15]],
      ['infrastructure', [30, 60]],
      ['emergency', [5, 15]],
    ] as const) {
      const r = rulesFor(policy, type);
      assert.equal(r.windowSeconds, min * 60, type);
      assert.equal(r.windowSeconds + (r.escalation?.windowSeconds ?? 0), max * 60, type);
    }
    assert.equal(rulesFor(policy, 'application', { maxWindowSeconds: 60 }).windowSeconds, 60);
    assert.equal(rulesFor(policy, 'application', { maxWindowSeconds: 99_999 }).windowSeconds, 900);
  });
  it('escalation tells the backup contact of Appendix B and lets them decide only once escalated', () => {
    const backups = Object.fromEntries(ROLLBACK_TYPES.map((t) => [t, rulesFor(policy, t).backupContact.handle]));
    assert.deepEqual(backups, {
      application: '@backup-eng',
      database: '@tech-lead',
      configuration: '@devops-lead',
      infrastructure: '@vp-eng',
      emergency: '@eng-manager',
    });
    // a database rollback within the one-hour impact rule: the escalated tech lead may decide
    assert.match(judge('database', 'tech-lead', 'tech-lead', false, 60) ?? '', /after escalation also: tech-lead/);
    assert.equal(judge('database', 'tech-lead', 'tech-lead', true, 60), undefined);
    assert.match(judge('application', 'backup-eng', 'engineer') ?? '', /may not decide/);
    assert.equal(judge('application', 'backup-eng', 'engineer', true), undefined);
    // widening adds the named people, not everyone
    assert.match(judge('database', 'oncall-eng', 'on-call-engineer', true) ?? '', /may not decide/);
  });
  it('escalation does not widen past the impact rule: over 1 hour the escalated tech lead may not approve a database rollback', () => {
    // database's default expected impact is its longest duration, 120 min: the impact rule applies
    const refusal = judge('database', 'tech-lead', 'tech-lead', true);
    assert.match(refusal ?? '', /role 'tech-lead' may not decide a database rollback/);
    assert.match(refusal ?? '', /expected impact 120 min > 60 min/);
    assert.match(refusal ?? '', /escalation widens only within the impact rule/);
    assert.doesNotMatch(refusal ?? '', /after escalation also/);
    // the tech lead holds the engineer role too: still not one the impact rule allows
    assert.match(judge('database', 'tech-lead', 'engineer', true) ?? '', /may not decide/);
    // an application rollback over an hour: the escalated backup engineer no longer counts; the manager does
    assert.match(judge('application', 'backup-eng', 'engineer', true, 61) ?? '', /within the impact rule/);
    assert.equal(judge('application', 'eng-manager', 'engineering-manager', true, 61), undefined);
    // who escalation adds, as the gate shows and notifies it
    const rules = rulesFor(policy, 'database');
    assert.deepEqual(escalatedApprovers(policy, rules, true), {
      addPeople: [],
      addRoles: [],
      narrowedBy: rules.impactRuleApplied,
    });
    assert.deepEqual(escalatedApprovers(policy, rulesFor(policy, 'database', { expectedImpactMinutes: 45 }), true), {
      addPeople: ['tech-lead'],
      addRoles: [],
    });
  });
  it('runs from before the escalation-keeps-impact-rule patch keep the old widening (their histories replay)', () => {
    assert.equal(judge('database', 'tech-lead', 'tech-lead', true, undefined, false), undefined);
    assert.deepEqual(escalatedApprovers(policy, rulesFor(policy, 'database'), false).addPeople, ['tech-lead']);
  });
  it('the open test policy keeps the gate as it was: any name, a known role, required role or higher', () => {
    const open = parseApprovalPolicy(JSON.parse(readFileSync(OPEN_TEST_POLICY, 'utf8')));
    const r = rulesFor(open, 'application', { maxWindowSeconds: 3600 });
    const ctx = { requestedBy: 'ci', escalated: false };
    assert.equal(decisionRefusal(open, r, { approver: 'ci', role: 'on-call-engineer' }, ctx), undefined);
    assert.match(decisionRefusal(open, r, { approver: 'x', role: 'engineer' }, ctx) ?? '', /needs 'on-call-engineer'/);
    assert.equal(r.windowSeconds, 3600);
    assert.equal(r.escalation, undefined);
  });
});

describe('approval policy: acknowledgements (mode "acknowledge", the emergencies)', () => {
  const rules = rulesFor(policy, 'emergency');
  const ack = (approver: string, role: string, escalated = false) =>
    acknowledgementRefusal(policy, rules, { approver, role }, { escalated });
  it('any engineer of the roster acknowledges, the requester included: four eyes does not apply', () => {
    assert.equal(rules.mode, 'acknowledge');
    assert.equal(rules.fourEyes, true, 'the policy has four eyes: acknowledgements are exempt, not the policy');
    assert.deepEqual(ack('oncall-eng', 'engineer'), { role: 'engineer' });
    assert.deepEqual(ack('@backup-eng', 'engineer'), { role: 'engineer' });
    assert.deepEqual(ack('tech-lead', 'tech-lead'), { role: 'tech-lead' });
  });
  it('the role recorded is one the roster gives them, whatever role the acknowledgement claimed', () => {
    // the default acknowledgement claims 'engineer'; the director is not one, but holds a role the type allows
    assert.deepEqual(ack('director-eng', 'engineer'), { role: 'director-of-engineering' });
    assert.deepEqual(ack('vp-eng', 'engineer'), { role: 'vp-engineering' });
  });
  it('a name outside the roster does not acknowledge', () => {
    const r = ack('dave', 'engineer');
    assert.ok('refusal' in r);
    assert.match(
      r.refusal,
      /'dave' is not in the approval roster: a emergency rollback is acknowledged by an engineer/,
    );
    assert.ok('refusal' in ack('', 'engineer'));
  });
  it('under trustClaimedRoles any name acknowledges with a role of the type', () => {
    const trusting = { ...rules, trustClaimedRoles: true };
    assert.deepEqual(
      acknowledgementRefusal(policy, trusting, { approver: 'dave', role: 'engineer' }, { escalated: false }),
      {
        role: 'engineer',
      },
    );
    assert.ok(
      'refusal' in acknowledgementRefusal(policy, trusting, { approver: 'dave', role: 'root' }, { escalated: false }),
    );
  });
  it('an approval of the same requester through decisionRefusal is still refused (the defect: the emergency waited)', () => {
    assert.match(
      decisionRefusal(
        policy,
        rules,
        { approver: 'oncall-eng', role: 'engineer' },
        { requestedBy: 'oncall-eng', escalated: false },
      ) ?? '',
      /four eyes/,
    );
  });
});

describe('approval policy: roles come from the policy, input only checks the shape', () => {
  it('a pre-approval with any role id passes input validation (vp-engineering, tech-lead); the gate decides', () => {
    for (const role of ['vp-engineering', 'tech-lead', 'engineer', 'on-call-engineer']) {
      assert.deepEqual(validatePreApproval({ approver: 'vp-eng', role }, 'approval.preApproved'), {
        approver: 'vp-eng',
        role,
      });
    }
    assert.throws(
      () => validatePreApproval({ approver: 'x', role: 'VP Engineering' }, 'approval.preApproved'),
      (e: unknown) =>
        e instanceof InputError && /approval\.preApproved\.role: 'VP Engineering' is not a role id/.test(e.message),
    );
  });
  it('the CLI takes --pre-approve vp-eng:vp-engineering for a fleet and a database rollback', () => {
    const fleet = startFromArgs([
      'fleet',
      '--name',
      'web',
      '--image',
      'cortex-memory-mcp:v2.0.0',
      '--label',
      'app=cortex-mcp',
      '--on-host',
      'h1',
      '--reason',
      'v2.1.0 fails',
      '--requested-by',
      'oncall-eng',
      '--pre-approve',
      'vp-eng:vp-engineering',
    ]);
    assert.deepEqual((fleet.input.approval as { preApproved: unknown }).preApproved, {
      approver: 'vp-eng',
      role: 'vp-engineering',
    });
    const db = startFromArgs([
      'qdrant-data-recovery',
      '--collection',
      'cortex-memory',
      '--reason',
      'corrupt',
      '--requested-by',
      'oncall-eng',
      '--pre-approve',
      'vp-eng:vp-engineering',
    ]);
    assert.deepEqual((db.input.approval as { preApproved: unknown }).preApproved, {
      approver: 'vp-eng',
      role: 'vp-engineering',
    });
  });
  it('the legacy list stays for runs from before the policy only: vp-engineering was unknown to it', () => {
    assert.match(legacyApprovalRefusal('application', 'vp-engineering') ?? '', /unknown role 'vp-engineering'/);
    assert.equal(legacyApprovalRefusal('application', 'on-call-engineer'), undefined);
    assert.match(legacyApprovalRefusal('database', 'on-call-engineer') ?? '', /needs 'engineering-manager'/);
  });
});

describe('approval policy file: validated when loaded', () => {
  interface Editable {
    types: Record<string, { approverRoles: string[]; backupContact: string; escalation: { notify: string[] } }>;
    people: Record<string, { roles: string[] }>;
    [k: string]: unknown;
  }
  const broken = (mutate: (p: Editable) => void): unknown => {
    const copy = JSON.parse(JSON.stringify(raw)) as Editable;
    mutate(copy);
    return copy;
  };
  const refusal = (p: unknown): string => {
    try {
      parseApprovalPolicy(p);
    } catch (err) {
      assert.ok(err instanceof PolicyError);
      return err.message;
    }
    return assert.fail('the policy was accepted');
  };
  it('names each offending path', () => {
    assert.match(
      refusal(broken((p) => (p.types.database!.approverRoles = ['engineering-manager', 'cto']))),
      /types\.database\.approverRoles\.1: unknown role 'cto'/,
    );
    assert.match(
      refusal(broken((p) => (p.types.application!.backupContact = 'nobody'))),
      /types\.application\.backupContact: 'nobody' is not in people/,
    );
    assert.match(refusal(broken((p) => delete p.types.emergency)), /types\.emergency/);
    assert.match(refusal(broken((p) => (p.people['eng-manager']!.roles = ['boss']))), /people\.eng-manager\.roles\.0/);
    assert.match(refusal(broken((p) => (p.typo = true))), /typo/);
    assert.match(
      refusal(broken((p) => (p.types.infrastructure!.approverRoles = ['vp-engineering']))),
      /types\.infrastructure\.approverRoles: must include requiredRole/,
    );
    assert.match(
      refusal(broken((p) => (p.types.application!.escalation.notify = ['oncall-eng']))),
      /escalation\.notify: must include backupContact/,
    );
  });
  it('the activity returns the policy with its sha256; a missing or broken file fails permanently', async () => {
    const loaded = await readApprovalPolicy(RUNBOOK_APPROVAL_POLICY);
    assert.match(loaded.sha256, /^[0-9a-f]{64}$/);
    assert.equal(loaded.path, RUNBOOK_APPROVAL_POLICY);
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    try {
      const missing = await readApprovalPolicy(join(dir, 'none.json')).catch((e: unknown) => e);
      assert.ok(missing instanceof ApplicationFailure && missing.nonRetryable && missing.type === 'NotFound');
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...raw, fourEyes: 'yes' }));
      const bad = await readApprovalPolicy(join(dir, 'bad.json')).catch((e: unknown) => e);
      assert.ok(bad instanceof ApplicationFailure && bad.nonRetryable && bad.type === 'InvalidInput');
      assert.match(bad.message, /fourEyes/);
      writeFileSync(join(dir, 'nojson.json'), '{');
      const nojson = await readApprovalPolicy(join(dir, 'nojson.json')).catch((e: unknown) => e);
      assert.ok(nojson instanceof ApplicationFailure && /is not JSON/.test(nojson.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
