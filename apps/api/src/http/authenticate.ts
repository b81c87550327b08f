import type { Core, Principal } from '@switchboard/core';

export const SESSION_COOKIE = 'sb_session';

export type AuthOutcome =
  | { kind: 'anonymous' }
  | { kind: 'authenticated'; principal: Principal }
  | { kind: 'refused'; status: 401 | 429; message: string; retryAfterSeconds?: number };

export interface Credentials {
  authorization?: string | undefined;
  sessionToken?: string | undefined;
  ip?: string | undefined;
  userAgent?: string | undefined;
}

/**
 * Turns what a request presents into a principal. Credentials that are present but wrong are
 * refused outright (401, one message for every cause), never treated as anonymous. A stale
 * session cookie is only ignored: the console then shows its login page.
 */
export async function authenticateCredentials(core: Core, credentials: Credentials): Promise<AuthOutcome> {
  const header = credentials.authorization?.trim();
  if (header) {
    const space = header.indexOf(' ');
    const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
    const value = space === -1 ? '' : header.slice(space + 1).trim();
    if (scheme === 'bearer') {
      const principal = await core.auth.authenticateToken(value);
      return principal ? { kind: 'authenticated', principal } : refused('Invalid or revoked token');
    }
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) return refused('Invalid username or password');
      const result = await core.auth.verifyCredentials(decoded.slice(0, colon), decoded.slice(colon + 1), {
        ip: credentials.ip,
        userAgent: credentials.userAgent,
      });
      if (result.ok) return { kind: 'authenticated', principal: result.value };
      if (result.error.code === 'RATE_LIMITED') {
        return {
          kind: 'refused',
          status: 429,
          message: result.error.message,
          retryAfterSeconds: result.error.retryAfterSeconds ?? 1,
        };
      }
      return refused('Invalid username or password');
    }
    return refused('Unsupported authorization scheme; use Bearer or Basic');
  }
  if (credentials.sessionToken) {
    const principal = await core.auth.authenticateSession(credentials.sessionToken);
    if (principal) return { kind: 'authenticated', principal };
  }
  return { kind: 'anonymous' };
}

function refused(message: string): AuthOutcome {
  return { kind: 'refused', status: 401, message };
}

/** Reads one cookie from a raw Cookie header (for WebSocket upgrades, which bypass the cookie plugin). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}
