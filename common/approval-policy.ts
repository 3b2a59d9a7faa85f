// Owns the approval policy: its file format (a zod schema, checked when loaded, cross-references included), the
// rules it gives one rollback (who may approve, how long, who is told and who is added on escalation), and the
// check of one decision against them. Pure: the worker validates the file, workflows apply the parsed policy.
// Invariants: a decision counts only from a person in the roster, with a role the roster gives them, allowed for
// the rollback's type (and, over the impact threshold, by the impact rule), not the requester (four eyes), and
// only once; the escalated approvers count only after the escalation, and (runs with the gate's
// `escalation-keeps-impact-rule` patch) only with a role the impact rule allows when it applied. A type in
// `mode: "acknowledge"` (the emergencies) takes an acknowledgement instead: any person of the roster holding one of
// the type's roles, four eyes not applied (the acknowledging engineer is often the requester).
// `trustClaimedRoles` (development and tests only) accepts any approver name with any declared role, as the gate
// did before the policy.
import { z } from 'zod';
import { ROLE_ID } from './roles.ts';

export const ROLLBACK_TYPES = ['application', 'database', 'configuration', 'infrastructure', 'emergency'] as const;
export type PolicyRollbackType = (typeof ROLLBACK_TYPES)[number];

/** A Slack user id as Slack's API gives it (`user.id` of an interaction payload). */
export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;

const id = z.string().regex(ROLE_ID, 'lower-case letters, digits, . _ - (max 63)');
const minutes = z
  .number()
  .positive()
  .max(7 * 24 * 60);

const typeRules = z
  .object({
    /** The role the runbook names (Rollback Classification, Appendix B). */
    requiredRole: id,
    /** Every role that may approve this type (the required role and those above it). */
    approverRoles: z.array(id).min(1),
    /** `approve`: nothing changes before a decision; `acknowledge`: the rollback runs at once, a decision acknowledges. */
    mode: z.enum(['approve', 'acknowledge']).default('approve'),
    /** The runbook's Duration column, [min, max] minutes. */
    durationMinutes: z.tuple([minutes, minutes]),
    /** How long the approvers have before escalation. */
    windowMinutes: minutes,
    contact: id,
    backupContact: id,
    escalation: z
      .object({
        windowMinutes: minutes,
        /** Told when the window passes (the backup contact, at least). */
        notify: z.array(id).min(1),
        /** People who may decide once escalated (with any role the roster gives them). */
        addPeople: z.array(id).default([]),
        /** Roles that may decide once escalated. */
        addRoles: z.array(id).default([]),
      })
      .strict()
      .nullable(),
  })
  .strict();

export const approvalPolicySchema = z
  .object({
    version: z.literal(1),
    description: z.string().max(2000).optional(),
    roles: z.array(id).min(1),
    people: z.record(
      id,
      z
        .object({
          name: z.string().min(1).max(200),
          /** Slack handle, used in notifications. */
          handle: z.string().regex(/^@[a-z0-9][a-z0-9._-]{0,79}$/),
          /**
           * Their Slack user id (U… or W…; Slack's profile menu: "Copy member ID"): the approval gateway maps the
           * verified user of a button click to this person (approval-gateway/, docs/slack-approvals.md).
           */
          slack: z.string().regex(SLACK_USER_ID, 'a Slack user id: U or W and upper-case letters or digits').optional(),
          roles: z.array(id).min(1),
        })
        .strict(),
    ),
    types: z
      .object(
        Object.fromEntries(ROLLBACK_TYPES.map((t) => [t, typeRules])) as Record<PolicyRollbackType, typeof typeRules>,
      )
      .strict(),
    /** Expected impact over `overMinutes` needs one of these roles (runbook: over 1 hour, an engineering manager). */
    impactRule: z.object({ overMinutes: minutes, approverRoles: z.array(id).min(1) }).strict(),
    /** The requester may not decide their own rollback. */
    fourEyes: z.boolean().default(true),
    trustClaimedRoles: z.boolean().default(false),
  })
  .strict()
  .superRefine((p, ctx) => {
    const roles = new Set(p.roles);
    const role = (r: string, path: (string | number)[]) => {
      if (!roles.has(r))
        ctx.addIssue({ code: 'custom', path, message: `unknown role '${r}' (roles: ${p.roles.join(', ')})` });
    };
    const person = (who: string, path: (string | number)[]) => {
      if (!p.people[who]) ctx.addIssue({ code: 'custom', path, message: `'${who}' is not in people` });
    };
    const slackIds = new Map<string, string>();
    for (const [who, entry] of Object.entries(p.people)) {
      entry.roles.forEach((r, i) => role(r, ['people', who, 'roles', i]));
      if (entry.slack === undefined) continue;
      const other = slackIds.get(entry.slack);
      if (other) {
        ctx.addIssue({
          code: 'custom',
          path: ['people', who, 'slack'],
          message: `Slack user ${entry.slack} is already '${other}': one Slack user is one person`,
        });
      } else slackIds.set(entry.slack, who);
    }
    p.impactRule.approverRoles.forEach((r, i) => role(r, ['impactRule', 'approverRoles', i]));
    for (const t of ROLLBACK_TYPES) {
      const rules = p.types[t];
      const at = ['types', t];
      role(rules.requiredRole, [...at, 'requiredRole']);
      rules.approverRoles.forEach((r, i) => role(r, [...at, 'approverRoles', i]));
      if (!rules.approverRoles.includes(rules.requiredRole)) {
        ctx.addIssue({ code: 'custom', path: [...at, 'approverRoles'], message: 'must include requiredRole' });
      }
      if (rules.durationMinutes[0] > rules.durationMinutes[1]) {
        ctx.addIssue({ code: 'custom', path: [...at, 'durationMinutes'], message: 'must be [min, max]' });
      }
      person(rules.contact, [...at, 'contact']);
      person(rules.backupContact, [...at, 'backupContact']);
      const e = rules.escalation;
      if (e) {
        e.notify.forEach((w, i) => person(w, [...at, 'escalation', 'notify', i]));
        e.addPeople.forEach((w, i) => person(w, [...at, 'escalation', 'addPeople', i]));
        e.addRoles.forEach((r, i) => role(r, [...at, 'escalation', 'addRoles', i]));
        if (!e.notify.includes(rules.backupContact)) {
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'escalation', 'notify'],
            message: 'must include backupContact',
          });
        }
      }
    }
  });

export type ApprovalPolicy = z.output<typeof approvalPolicySchema>;
export type ApprovalPolicyFile = z.input<typeof approvalPolicySchema>;

/** What loadApprovalPolicy returns and each run records (history, status, result). */
export interface LoadedPolicy {
  path: string;
  sha256: string;
  policy: ApprovalPolicy;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
}

/** Validates a parsed policy file; the message names each offending path. */
export function parseApprovalPolicy(raw: unknown, where = 'approval policy'): ApprovalPolicy {
  const r = approvalPolicySchema.safeParse(raw);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new PolicyError(`${where} is invalid: ${issues.join('; ')}`);
}

/** The rules one rollback runs under, resolved from the policy (kept in the status and the result). */
export interface ApprovalRules {
  rollbackType: PolicyRollbackType;
  mode: 'approve' | 'acknowledge';
  requiredRole: string;
  /** Roles that may decide before escalation (the impact rule applied). */
  approverRoles: string[];
  expectedImpactMinutes: number;
  /** Set when the impact rule narrowed the roles. */
  impactRuleApplied?: string;
  windowSeconds: number;
  contact: { id: string; handle: string };
  backupContact: { id: string; handle: string };
  escalation?: {
    windowSeconds: number;
    notify: { id: string; handle: string }[];
    addPeople: string[];
    addRoles: string[];
  };
  fourEyes: boolean;
  trustClaimedRoles: boolean;
}

export function rulesFor(
  policy: ApprovalPolicy,
  type: PolicyRollbackType,
  opts: { expectedImpactMinutes?: number; maxWindowSeconds?: number } = {},
): ApprovalRules {
  const t = policy.types[type];
  const contact = (who: string) => ({ id: who, handle: policy.people[who]?.handle ?? who });
  const impact = opts.expectedImpactMinutes ?? t.durationMinutes[1];
  const overImpact = impact > policy.impactRule.overMinutes;
  const narrowed = overImpact ? t.approverRoles.filter((r) => policy.impactRule.approverRoles.includes(r)) : [];
  const approverRoles = overImpact ? (narrowed.length ? narrowed : policy.impactRule.approverRoles) : t.approverRoles;
  const window = Math.round(t.windowMinutes * 60);
  return {
    rollbackType: type,
    mode: t.mode,
    requiredRole:
      overImpact && !policy.impactRule.approverRoles.includes(t.requiredRole) ? approverRoles[0]! : t.requiredRole,
    approverRoles,
    expectedImpactMinutes: impact,
    ...(overImpact
      ? {
          impactRuleApplied: `expected impact ${impact} min > ${policy.impactRule.overMinutes} min: needs ${policy.impactRule.approverRoles.join(' or ')}`,
        }
      : {}),
    windowSeconds: opts.maxWindowSeconds !== undefined ? Math.min(window, opts.maxWindowSeconds) : window,
    contact: contact(t.contact),
    backupContact: contact(t.backupContact),
    ...(t.escalation
      ? {
          escalation: {
            windowSeconds: Math.round(t.escalation.windowMinutes * 60),
            notify: t.escalation.notify.map(contact),
            addPeople: t.escalation.addPeople,
            addRoles: t.escalation.addRoles,
          },
        }
      : {}),
    fourEyes: policy.fourEyes,
    trustClaimedRoles: policy.trustClaimedRoles,
  };
}

export interface DecisionClaim {
  approver: unknown;
  role: unknown;
}

/** The roster person whose `slack` is this Slack user id (the approval gateway's mapping), if any. */
export function personOfSlackUser(policy: ApprovalPolicy, slackUserId: string): string | undefined {
  return Object.keys(policy.people).find((k) => policy.people[k]!.slack === slackUserId);
}

/** The roster entry an approver names: by id, or by Slack handle. */
export function findPerson(policy: ApprovalPolicy, approver: string): string | undefined {
  if (policy.people[approver]) return approver;
  return Object.keys(policy.people).find((k) => policy.people[k]!.handle === approver);
}

/** How a decision is judged beyond the rules: the run's requester, whether it was escalated, and patched behaviour. */
export interface DecisionContext {
  requestedBy?: string;
  escalated: boolean;
  /**
   * Escalated people and roles count only with a role the impact rule allows when it applied (runs with the
   * gate's `escalation-keeps-impact-rule` patch; before it, escalation widened past the impact rule).
   */
  escalationKeepsImpactRule?: boolean;
}

/**
 * Who may decide once escalated: the policy's added people and roles, narrowed, when the impact rule applied and
 * `keepImpactRule`, to the roles the impact rule allows (a person counts with such a role the roster gives them).
 */
export function escalatedApprovers(
  policy: ApprovalPolicy,
  rules: ApprovalRules,
  keepImpactRule: boolean,
): { addPeople: string[]; addRoles: string[]; narrowedBy?: string } {
  const e = rules.escalation;
  if (!e) return { addPeople: [], addRoles: [] };
  if (!keepImpactRule || !rules.impactRuleApplied) return { addPeople: e.addPeople, addRoles: e.addRoles };
  const allowed = policy.impactRule.approverRoles;
  const addPeople = e.addPeople.filter(
    (p) => rules.trustClaimedRoles || (policy.people[p]?.roles ?? []).some((r) => allowed.includes(r)),
  );
  const addRoles = e.addRoles.filter((r) => allowed.includes(r));
  return {
    addPeople,
    addRoles,
    ...(addPeople.length !== e.addPeople.length || addRoles.length !== e.addRoles.length
      ? { narrowedBy: rules.impactRuleApplied }
      : {}),
  };
}

/**
 * Why this decision may not count (undefined when it may): who and which role, checked against the roster, the
 * type's roles (or the escalated approvers once escalated) and four eyes. The caller checks "already decided".
 */
export function decisionRefusal(
  policy: ApprovalPolicy,
  rules: ApprovalRules,
  claim: DecisionClaim,
  ctx: DecisionContext,
): string | undefined {
  const { approver, role } = claim;
  if (typeof approver !== 'string' || approver.trim() === '') return 'approver is required';
  if (typeof role !== 'string' || role.trim() === '') return 'role is required';
  if (!policy.roles.includes(role)) return `unknown role '${role}' (roles: ${policy.roles.join(', ')})`;
  const person = findPerson(policy, approver);
  if (!rules.trustClaimedRoles) {
    if (!person) return `'${approver}' is not in the approval roster`;
    if (!policy.people[person]!.roles.includes(role)) {
      return `the roster does not give '${person}' the role '${role}' (their roles: ${policy.people[person]!.roles.join(', ')})`;
    }
  }
  if (rules.fourEyes && ctx.requestedBy !== undefined) {
    const requester = findPerson(policy, ctx.requestedBy) ?? ctx.requestedBy;
    if ((person ?? approver) === requester) {
      return `'${approver}' requested this rollback and may not decide it (four eyes)`;
    }
  }
  if (rules.approverRoles.includes(role)) return undefined;
  const keep = ctx.escalationKeepsImpactRule === true;
  const e = escalatedApprovers(policy, rules, keep);
  const impactAllows = !keep || !rules.impactRuleApplied || policy.impactRule.approverRoles.includes(role);
  if (
    ctx.escalated &&
    rules.escalation &&
    impactAllows &&
    (e.addRoles.includes(role) || (person !== undefined && e.addPeople.includes(person)))
  ) {
    return undefined;
  }
  const widened = e.addRoles.length || e.addPeople.length;
  return (
    `role '${role}' may not decide ${/^[aeiou]/.test(rules.rollbackType) ? 'an' : 'a'} ${rules.rollbackType} rollback: it needs '${rules.requiredRole}' ` +
    `(allowed: ${rules.approverRoles.join(', ')})` +
    (rules.impactRuleApplied ? ` (${rules.impactRuleApplied})` : '') +
    (widened && !ctx.escalated
      ? ` (after escalation also: ${[...e.addPeople, ...e.addRoles.map((r) => `role ${r}`)].join(', ')})`
      : '') +
    (e.narrowedBy ? ' (escalation widens only within the impact rule)' : '')
  );
}

/**
 * Why this acknowledgement may not count (a type in `mode: "acknowledge"`), and otherwise the role it counts
 * with: any person of the roster holding one of the type's roles (its approverRoles; once escalated, also the added
 * people and roles), or any name claiming such a role under `trustClaimedRoles`. Four eyes does not apply and the
 * claimed role need not be the one the roster gives: the roster's role is recorded. The impact rule does not
 * narrow an acknowledgement (the rollback has run at once: nobody approves it).
 */
export function acknowledgementRefusal(
  policy: ApprovalPolicy,
  rules: ApprovalRules,
  claim: DecisionClaim,
  ctx: { escalated: boolean },
): { refusal: string } | { role: string } {
  const { approver, role } = claim;
  if (typeof approver !== 'string' || approver.trim() === '') return { refusal: 'approver is required' };
  if (typeof role !== 'string' || role.trim() === '') return { refusal: 'role is required' };
  const typeRoles = policy.types[rules.rollbackType].approverRoles;
  const e = rules.escalation;
  const allowed = [...typeRoles, ...(ctx.escalated && e ? e.addRoles : [])];
  if (rules.trustClaimedRoles) {
    return allowed.includes(role)
      ? { role }
      : {
          refusal: `role '${role}' may not acknowledge a ${rules.rollbackType} rollback (allowed: ${allowed.join(', ')})`,
        };
  }
  const person = findPerson(policy, approver);
  if (!person) {
    return {
      refusal: `'${approver}' is not in the approval roster: a ${rules.rollbackType} rollback is acknowledged by an engineer of the roster (${typeRoles.join(', ')})`,
    };
  }
  const held = policy.people[person]!.roles;
  if (held.includes(role) && allowed.includes(role)) return { role };
  const counted = held.find((r) => allowed.includes(r));
  if (counted) return { role: counted };
  if (ctx.escalated && e?.addPeople.includes(person)) return { role: held.includes(role) ? role : held[0]! };
  return {
    refusal: `'${person}' (${held.join(', ')}) may not acknowledge a ${rules.rollbackType} rollback (allowed: ${allowed.join(', ')})`,
  };
}
