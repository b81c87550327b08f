import { SYSTEM_USER_ID, type UserId } from '../shared/ids.ts';

export const USER_ROLES = ['admin', 'member'] as const;
export type UserRole = (typeof USER_ROLES)[number];

/**
 * Token scopes. `admin` grants everything an admin can do; the others grant one capability each
 * and are checked by the services that own that capability.
 */
export const SCOPES = [
  'admin',
  'tokens:write',
  'queues:read',
  'queues:write',
  'events:publish',
  'subscriptions:read',
  'subscriptions:write',
  'jobs:read',
  'jobs:write',
] as const;
export type Scope = (typeof SCOPES)[number];

export const MEMBER_SCOPES: readonly Scope[] = SCOPES.filter((s) => s !== 'admin');

export interface PrincipalUser {
  id: UserId;
  username: string;
  role: UserRole;
}

/** Who is asking, and how they proved it. */
export interface Principal {
  user: PrincipalUser;
  via: 'password' | 'session' | 'token' | 'system';
  /** What this request may do: a token's scopes, or everything the role allows. */
  scopes: readonly Scope[];
  tokenId?: string;
  sessionId?: string;
  /** For a session whose expiry has just moved forward: the new expiry, for the cookie to follow. */
  sessionRenewedUntil?: Date;
}

export function scopesForRole(role: UserRole): readonly Scope[] {
  return role === 'admin' ? SCOPES : MEMBER_SCOPES;
}

export function hasScope(principal: Principal, scope: Scope): boolean {
  if (scope === 'admin') return principal.user.role === 'admin' && principal.scopes.includes('admin');
  return principal.scopes.includes(scope) || isAdmin(principal);
}

/** An admin acting with admin rights (a narrower token of an admin is not). */
export function isAdmin(principal: Principal): boolean {
  return principal.user.role === 'admin' && principal.scopes.includes('admin');
}

/** The operator at the command line: acts with every right, on no user's behalf. */
export const systemPrincipal: Principal = {
  user: { id: SYSTEM_USER_ID, username: 'system', role: 'admin' },
  via: 'system',
  scopes: SCOPES,
};
