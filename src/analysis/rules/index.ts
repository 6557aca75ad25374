// The rule catalogue (RULES.md §2): one table keyed by rule id, assembled from one file per
// category and one for the iCalendar/vCard payload rules (MS651 onwards, RULES.md §5), the gateway
// differences of the two-vantage-point comparison (MS801 onwards), plus MS901 for a rule that throws and MS902 for a flow davtap's relay failed on. Ids never change once released.
import type { Blame, Category, Severity } from '../../types.js';
import type { RuleDef } from '../facts.js';
import { malformedRules } from './malformed.js';
import { partialFailureRules } from './partial-failure.js';
import { payloadRules } from './payload.js';
import { securityRules } from './security.js';
import { semanticRules } from './semantic.js';
import { strippedRules } from './stripped.js';
import { truncationRules } from './truncation.js';
import { gatewayRules } from './gateway.js';

export interface RuleInfo {
  id: string;
  severity: Severity;
  category: Category;
  blame: Blame;
  title: string;
}

const byId = (a: RuleDef, b: RuleDef): number => a.id.localeCompare(b.id);

/** Every rule with its checks, in id order (the order findings are reported in). */
export const ruleDefs: readonly RuleDef[] = Object.freeze(
  [...truncationRules, ...malformedRules, ...semanticRules, ...strippedRules, ...partialFailureRules, ...securityRules, ...payloadRules].sort(byId),
);

export const analyzerCrashed: RuleInfo = Object.freeze({ id: 'MS901', severity: 'error', category: 'semantic', blame: 'unknown', title: 'analyzer rule crashed' });
/** Reported by the live pipeline, never by a rule: davtap's relay failed on the flow (outcome EDAVTAP). */
export const relayFailed: RuleInfo = Object.freeze({ id: 'MS902', severity: 'error', category: 'semantic', blame: 'unknown', title: 'davtap failed internally on this flow' });

/** The catalogue: id → default severity, category, blame and title. */
export const rules: Readonly<Record<string, RuleInfo>> = Object.freeze(
  Object.fromEntries([
    ...ruleDefs.map((r) => [r.id, Object.freeze({ id: r.id, severity: r.severity, category: r.category, blame: r.blame, title: r.title })] as const),
    ...gatewayRules.map((r) => [r.id, Object.freeze({ id: r.id, severity: r.severity, category: r.category, blame: r.blame, title: r.title })] as const),
    [analyzerCrashed.id, analyzerCrashed] as const,
    [relayFailed.id, relayFailed] as const,
  ]),
);
