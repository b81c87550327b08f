import { describe, expect, it } from 'vitest';
import type { UserId } from '../shared/ids.ts';
import { hasScope, isAdmin, type Principal, scopesForRole } from './principal.ts';

const principal = (role: 'admin' | 'member', scopes: Principal['scopes']): Principal => ({
  user: { id: 'u' as UserId, username: 'u', role },
  via: 'token',
  scopes,
});

describe('scopes', () => {
  it('an admin acting with the admin scope holds every scope', () => {
    const admin = principal('admin', ['admin']);
    expect(isAdmin(admin)).toBe(true);
    expect(hasScope(admin, 'jobs:write')).toBe(true);
  });

  it('a narrow token of an admin is not an admin', () => {
    const narrow = principal('admin', ['queues:read']);
    expect(isAdmin(narrow)).toBe(false);
    expect(hasScope(narrow, 'queues:read')).toBe(true);
    expect(hasScope(narrow, 'jobs:write')).toBe(false);
  });

  it('a member never holds admin, even if a token row says so', () => {
    expect(hasScope(principal('member', ['admin']), 'admin')).toBe(false);
    expect(scopesForRole('member')).not.toContain('admin');
  });
});
