/**
 * Roles and what each may do. Scope (which sites) is separate: a user holds scopes `all`, `site:<id>` or
 * `group:<id>`; operators always see every site.
 *
 * - operator: DSO/DERM operator, everything, including users, tokens and gateway credentials.
 * - installer: commissions sites in scope: edits site/device metadata, issues gateway credentials,
 *   sends test commands.
 * - aggregator: runs a portfolio (its groups): reads, sends commands to sites in scope.
 * - participant: a site owner or market participant: reads its own sites.
 * - viewer: reads sites in scope.
 * - monitor: a metrics scraper (Prometheus): reads /metrics and nothing else.
 */
export const ROLES = ['operator', 'installer', 'aggregator', 'participant', 'viewer', 'monitor'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'site:read',
  'site:write',
  'site:credentials',
  'command:send',
  'group:write',
  'user:admin',
  'audit:read',
  /** Grid operation: network feasibility, power flow (operators only). */
  'network:operate',
  /** The Prometheus exposition at /metrics (process and fleet internals: not for site owners). */
  'metrics:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const GRANTS: Record<Role, readonly Permission[]> = {
  operator: PERMISSIONS,
  installer: ['site:read', 'site:write', 'site:credentials', 'command:send'],
  aggregator: ['site:read', 'command:send'],
  participant: ['site:read'],
  viewer: ['site:read'],
  monitor: ['metrics:read'],
};

export function can(role: Role, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}
