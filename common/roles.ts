// Owns the role ids and the runbook's required role per rollback type (Rollback Classification, Appendix B). Who may
// approve what is the approval policy's decision (config/approval-policy.json, judged by the gate,
// common/approval-policy.ts): input validation only checks that a role is a well-formed id. The ordered role list
// below is the gate as it was before the policy, kept only for runs started then (their histories replay) and for
// the signal those runs take. Pure: used by workflows and the CLI.

/** The roles and their order before the approval policy: only the pre-policy gate uses them. */
export const LEGACY_ROLES = ['engineer', 'on-call-engineer', 'engineering-manager', 'director-of-engineering'] as const;
export type Role = (typeof LEGACY_ROLES)[number];

export type RollbackType = 'application' | 'database' | 'configuration' | 'infrastructure' | 'emergency';

export const REQUIRED_ROLE: Record<RollbackType, Role> = {
  application: 'on-call-engineer',
  configuration: 'on-call-engineer',
  database: 'engineering-manager',
  infrastructure: 'director-of-engineering',
  emergency: 'engineer',
};

/** A role (and person) id as the approval policy writes them: lower-case letters, digits, . _ - (max 63). */
export const ROLE_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Why `role` is not a role id at all (undefined when it is one); whether it may approve is the policy's call. */
export function roleIdRefusal(role: unknown): string | undefined {
  if (typeof role === 'string' && ROLE_ID.test(role)) return undefined;
  return `'${String(role)}' is not a role id (lower-case letters, digits, . _ - ; max 63), e.g. on-call-engineer`;
}

/**
 * The pre-policy gate's check (runs started before the approval policy, and the signal they take): why `role` may
 * not approve a rollback of `type` by the legacy order, or undefined when it may.
 */
export function legacyApprovalRefusal(type: RollbackType, role: unknown): string | undefined {
  if (typeof role !== 'string' || !(LEGACY_ROLES as readonly string[]).includes(role)) {
    return `unknown role '${String(role)}' (known: ${LEGACY_ROLES.join(', ')})`;
  }
  const required = REQUIRED_ROLE[type];
  if (LEGACY_ROLES.indexOf(role as Role) < LEGACY_ROLES.indexOf(required)) {
    return `role '${role}' may not approve a ${type} rollback: it needs '${required}' or higher`;
  }
  return undefined;
}
