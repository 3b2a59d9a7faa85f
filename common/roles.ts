// Owns who may approve which kind of rollback (runbook, "Rollback Classification" and Appendix B).
// Roles are ordered: a higher role may approve anything a lower one may. Pure: used by workflows and the CLI.

export const ROLES = ['engineer', 'on-call-engineer', 'engineering-manager', 'director-of-engineering'] as const;
export type Role = (typeof ROLES)[number];

export type RollbackType = 'application' | 'database' | 'configuration' | 'infrastructure' | 'emergency';

export const REQUIRED_ROLE: Record<RollbackType, Role> = {
  application: 'on-call-engineer',
  configuration: 'on-call-engineer',
  database: 'engineering-manager',
  infrastructure: 'director-of-engineering',
  emergency: 'engineer',
};

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Why `role` may not approve a rollback of `type`, or undefined when it may. */
export function approvalRefusal(type: RollbackType, role: unknown): string | undefined {
  if (!isRole(role)) return `unknown role '${String(role)}' (known: ${ROLES.join(', ')})`;
  const required = REQUIRED_ROLE[type];
  if (ROLES.indexOf(role) < ROLES.indexOf(required)) {
    return `role '${role}' may not approve a ${type} rollback: it needs '${required}' or higher`;
  }
  return undefined;
}
