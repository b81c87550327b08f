import { apiTokens, type Database, users } from '@switchboard/db';
import { and, desc, eq, isNull, type SQL, sql } from 'drizzle-orm';
import { isAdmin, type Principal, type Scope, type UserRole } from '../access/principal.ts';
import type { UserId } from '../shared/ids.ts';

export interface ApiToken {
  id: string;
  userId: UserId;
  name: string;
  scopes: Scope[];
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

/** A token with what checking it needs: the hash of its secret, and its owner as they are now. */
export interface TokenRow {
  token: ApiToken;
  secretHash: string;
  user: { id: UserId; username: string; role: UserRole };
}

export interface NewToken {
  id: string;
  userId: UserId;
  name: string;
  scopes: string[];
  secretHash: string;
  expiresAt: Date | null;
}

const tokenColumns = {
  id: apiTokens.id,
  userId: apiTokens.userId,
  name: apiTokens.name,
  scopes: apiTokens.scopes,
  createdAt: apiTokens.createdAt,
  lastUsedAt: apiTokens.lastUsedAt,
  expiresAt: apiTokens.expiresAt,
  revokedAt: apiTokens.revokedAt,
};

/** The `api_tokens` table's one owner. */
export class TokenStore {
  private readonly db: Database;
  /**
   * The look-up behind every token-authenticated request, built and prepared once: building a
   * query with Drizzle costs more than running it. It reads the owner's role with the token, so
   * that a token never carries more than its owner's role allows today.
   */
  private readonly lookup;

  constructor(deps: { db: Database }) {
    this.db = deps.db;
    this.lookup = deps.db
      .select({
        token: tokenColumns,
        secretHash: apiTokens.secretHash,
        user: { id: users.id, username: users.username, role: users.role },
      })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(eq(apiTokens.id, sql.placeholder('id')))
      .prepare('switchboard_token_lookup');
  }

  /** The tokens a caller may see: their own, or everyone's for admins and the system. */
  visibleTo(actor: Principal): SQL | undefined {
    return isAdmin(actor) ? undefined : eq(apiTokens.userId, actor.user.id);
  }

  async lookUp(id: string): Promise<TokenRow | undefined> {
    const [row] = (await this.lookup.execute({ id })) as Array<TokenRow | undefined>;
    return row;
  }

  /** Someone else's token is missing to a member, so that ids cannot be probed. */
  async find(actor: Principal, id: string): Promise<ApiToken | null> {
    const [token] = await this.db
      .select(tokenColumns)
      .from(apiTokens)
      .where(and(eq(apiTokens.id, id), this.visibleTo(actor)));
    return (token as ApiToken | undefined) ?? null;
  }

  /** One user's tokens, or everyone's (null), newest first. */
  async list(userId: UserId | null, includeRevoked: boolean): Promise<ApiToken[]> {
    const conditions = [
      userId === null ? undefined : eq(apiTokens.userId, userId),
      includeRevoked ? undefined : isNull(apiTokens.revokedAt),
    ];
    const rows = await this.db
      .select(tokenColumns)
      .from(apiTokens)
      .where(and(...conditions))
      .orderBy(desc(apiTokens.createdAt));
    return rows as ApiToken[];
  }

  /** Throws a unique violation when the owner has a live token of that name. */
  async insert(values: NewToken): Promise<ApiToken> {
    const [token] = await this.db.insert(apiTokens).values(values).returning(tokenColumns);
    if (!token) throw new Error('insert returned no row');
    return token as ApiToken;
  }

  /** Null when the token is gone. */
  async revoke(id: string, at: Date): Promise<ApiToken | null> {
    const [revoked] = await this.db
      .update(apiTokens)
      .set({ revokedAt: at })
      .where(eq(apiTokens.id, id))
      .returning(tokenColumns);
    return (revoked as ApiToken | undefined) ?? null;
  }

  async touch(id: string, lastUsedAt: Date): Promise<void> {
    await this.db.update(apiTokens).set({ lastUsedAt }).where(eq(apiTokens.id, id));
  }
}
