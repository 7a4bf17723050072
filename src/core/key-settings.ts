import { parseIp } from './ip-allowlist.ts';

export const PERMISSION_PRESETS = { full: ['*'], read_only: ['*:read'] } as const;
export type PermissionPreset = keyof typeof PERMISSION_PRESETS;

const PERMISSION = /^(\*|(\*|[a-z0-9_.-]{1,50}):(\*|[a-z0-9_.-]{1,50}))$/;
export const MAX_METADATA_BYTES = 16 * 1024;
/** The metadata object itself is level 1. */
export const MAX_METADATA_DEPTH = 20;
export const MAX_NAME_LENGTH = 100;

/** Trims a key name and checks its length in characters (any Unicode is allowed). */
export function normaliseName(
  name: string,
): { ok: true; name: string } | { ok: false; message: string } {
  const trimmed = name.trim();
  const length = [...trimmed].length;
  if (length < 1) return { ok: false, message: 'name must not be empty' };
  if (length > MAX_NAME_LENGTH)
    return { ok: false, message: `name must be at most ${MAX_NAME_LENGTH} characters` };
  return { ok: true, name: trimmed };
}

export function invalidPermission(permissions: readonly string[]): string | undefined {
  return permissions.find((p) => !PERMISSION.test(p));
}

/**
 * Normalises IP allowlist entries (addresses and CIDR ranges, IPv4 and IPv6) to their canonical
 * text; returns the first entry that is not one.
 */
export function normaliseIpAllowlist(
  entries: readonly string[],
): { ok: true; entries: string[] } | { ok: false; bad: string } {
  const out: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    const [address, prefix, extra] = entry.split('/');
    const parsed = address === undefined || extra !== undefined ? null : parseIp(address);
    if (parsed === null) return { ok: false, bad: raw };
    if (prefix === undefined) {
      out.push(parsed.toString());
      continue;
    }
    const bits = Number(prefix);
    const max = parsed.kind() === 'ipv4' ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefix) || bits > max) return { ok: false, bad: raw };
    out.push(`${parsed.toString()}/${bits}`);
  }
  return { ok: true, entries: out };
}

/**
 * Why metadata is refused, or null. The depth is measured first, with an explicit stack, so that
 * JSON.stringify (and the answer's serializer) never meets nesting deep enough to overflow.
 */
export function metadataProblem(metadata: Record<string, unknown>): string | null {
  const stack: { value: object; depth: number }[] = [{ value: metadata, depth: 1 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (item.depth > MAX_METADATA_DEPTH)
      return `metadata must not nest more than ${MAX_METADATA_DEPTH} levels`;
    for (const child of Object.values(item.value))
      if (typeof child === 'object' && child !== null)
        stack.push({ value: child, depth: item.depth + 1 });
  }
  if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES)
    return 'metadata must be at most 16 KB of JSON';
  return null;
}
