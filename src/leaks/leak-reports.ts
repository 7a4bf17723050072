import { apiKeyShapeChecker } from '../core/api-key.ts';
import { sha256Hex } from '../core/secrets.ts';
import type { Actor } from '../services/actor.ts';
import type { KeyService } from '../services/keys.ts';

/** One match in GitHub's secret-scanning partner format. */
export interface LeakReportItem {
  token: string;
  type: string;
  url?: string;
  source?: string;
}

export interface LeakLabel {
  token_raw: string;
  token_type: string;
  /** true_positive: a key this deployment issued (live, now revoked, or revoked before); else false_positive. */
  label: 'true_positive' | 'false_positive';
}

/** Most matches one report may carry. */
export const MAX_LEAK_ITEMS = 1000;

/**
 * Handles secret-scanning reports (POST /v1/leaks): each token of our shape whose hash is a key
 * is revoked if still live, through the key service (audit with the reporter and where it was
 * found, key.revoked and key.leaked in the same transaction, caches dropped on every node).
 */
export class LeakReports {
  private readonly keys: KeyService;
  private readonly isKeyShape: (candidate: string) => boolean;

  constructor(deps: { keys: KeyService; keyPrefix: string }) {
    this.keys = deps.keys;
    this.isKeyShape = apiKeyShapeChecker(deps.keyPrefix);
  }

  async report(reporter: Actor, items: readonly LeakReportItem[]): Promise<LeakLabel[]> {
    const verdicts = new Map<string, LeakLabel['label']>();
    const labels: LeakLabel[] = [];
    for (const item of items) {
      let label = verdicts.get(item.token);
      if (label === undefined) {
        label = 'false_positive';
        if (this.isKeyShape(item.token)) {
          const found = await this.keys.revokeLeaked(sha256Hex(item.token), {
            reporter,
            url: item.url ?? null,
            source: item.source ?? null,
            type: item.type,
          });
          if (found !== undefined) label = 'true_positive';
        }
        verdicts.set(item.token, label);
      }
      labels.push({ token_raw: item.token, token_type: item.type, label });
    }
    return labels;
  }
}
