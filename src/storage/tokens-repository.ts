import type { Kysely, Selectable } from 'kysely';
import type { Token } from '../core/models.ts';
import type { Database, TokensTable } from './schema.ts';

type Db = Kysely<Database>;

function toToken(row: Selectable<TokensTable>): Token {
  return {
    id: row.id,
    ownerId: row.owner_id,
    kind: row.kind,
    name: row.name,
    hash: row.hash,
    start: row.start,
    last4: row.last4,
    scopes: JSON.parse(row.scopes),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
  };
}

export async function insertToken(db: Db, token: Token): Promise<void> {
  await db
    .insertInto('tokens')
    .values({
      id: token.id,
      owner_id: token.ownerId,
      kind: token.kind,
      name: token.name,
      hash: token.hash,
      start: token.start,
      last4: token.last4,
      scopes: JSON.stringify(token.scopes),
      created_at: token.createdAt,
      expires_at: token.expiresAt,
      last_used_at: token.lastUsedAt,
    })
    .execute();
}

export async function findTokenByHash(db: Db, hash: string): Promise<Token | undefined> {
  const row = await db.selectFrom('tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
  return row && toToken(row);
}

export async function findTokenById(db: Db, id: string): Promise<Token | undefined> {
  const row = await db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toToken(row);
}

export async function listTokens(db: Db, ownerId: string | undefined): Promise<Token[]> {
  let query = db
    .selectFrom('tokens')
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc');
  if (ownerId !== undefined) query = query.where('owner_id', '=', ownerId);
  return (await query.execute()).map(toToken);
}

export async function deleteToken(db: Db, id: string): Promise<void> {
  await db.deleteFrom('tokens').where('id', '=', id).execute();
}

export async function listTokenHashesByOwner(db: Db, ownerId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('tokens')
    .select('hash')
    .where('owner_id', '=', ownerId)
    .execute();
  return rows.map((row) => row.hash);
}

export async function touchTokens(db: Db, uses: ReadonlyMap<string, number>): Promise<void> {
  for (const [id, at] of uses) {
    await db.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}
