/**
 * `resource:action` permissions with `*` wildcards: `*` grants everything, `usage:*` every action
 * on usage, `*:read` reading anything (the read-only preset).
 */
export function permits(granted: readonly string[], required: string): boolean {
  const colon = required.indexOf(':');
  const resource = colon === -1 ? required : required.slice(0, colon);
  const action = colon === -1 ? '' : required.slice(colon + 1);
  for (const grant of granted) {
    if (grant === '*' || grant === required) return true;
    const split = grant.indexOf(':');
    if (split === -1) continue;
    const grantResource = grant.slice(0, split);
    const grantAction = grant.slice(split + 1);
    if (
      (grantResource === '*' || grantResource === resource) &&
      (grantAction === '*' || grantAction === action)
    )
      return true;
  }
  return false;
}

/** An empty list allows every resource; otherwise the resource must be listed (or `*`). */
export function resourceAllowed(allowed: readonly string[], resource: string | undefined): boolean {
  if (allowed.length === 0) return true;
  if (resource === undefined) return false;
  return allowed.includes(resource) || allowed.includes('*');
}
