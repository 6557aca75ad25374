// Gateway differences (RULES.md §6): what a relay changed between the origin's 207 and the one the
// client got. No single response can show them, so they are not checks of the analyzer: the
// two-vantage-point comparison (compare.ts) raises them, for `davtap verify` and the sandwich mode.
// Ids are stable once released; the README's rule table lists them with the analyzer's rules.
import type { Blame, Category, Severity } from '../../types.js';

export interface GatewayRule {
  id: string;
  /** Default severity; a difference may be reported lower (a change the request allowed). */
  severity: Severity;
  category: Category;
  /** Always the gateway: two vantage points disagree (RULES.md §6). */
  blame: Blame;
  title: string;
}

/** The root causes a comparison names; knock-on differences are reported as their consequences. */
export const GATEWAY = {
  statusChanged: 'MS801',
  responsesLost: 'MS802',
  propertiesChanged: 'MS803',
  hrefsRewritten: 'MS804',
  namespacesLost: 'MS805',
  bodyCut: 'MS806',
  encodingChanged: 'MS807',
  htmlSubstituted: 'MS808',
  contentTypeChanged: 'MS809',
  bytesChanged: 'MS810',
} as const;

export type GatewayRuleId = (typeof GATEWAY)[keyof typeof GATEWAY];

export const gatewayRules: readonly GatewayRule[] = Object.freeze([
  { id: GATEWAY.statusChanged, severity: 'error', category: 'stripped', blame: 'gateway', title: 'the gateway answered another status than the origin, or no response' },
  { id: GATEWAY.responsesLost, severity: 'error', category: 'truncation', blame: 'gateway', title: 'responses lost or added by the gateway' },
  { id: GATEWAY.propertiesChanged, severity: 'error', category: 'stripped', blame: 'gateway', title: 'properties lost, added, or changed in status or value by the gateway' },
  { id: GATEWAY.hrefsRewritten, severity: 'error', category: 'stripped', blame: 'gateway', title: 'hrefs rewritten by the gateway (authority or path prefix)' },
  { id: GATEWAY.namespacesLost, severity: 'error', category: 'stripped', blame: 'gateway', title: 'namespace declarations lost or changed by the gateway' },
  { id: GATEWAY.bodyCut, severity: 'error', category: 'truncation', blame: 'gateway', title: 'body cut by the gateway' },
  { id: GATEWAY.encodingChanged, severity: 'error', category: 'stripped', blame: 'gateway', title: 'content coding or charset changed by the gateway' },
  { id: GATEWAY.htmlSubstituted, severity: 'error', category: 'stripped', blame: 'gateway', title: 'an HTML page or another document substituted for the multistatus' },
  { id: GATEWAY.contentTypeChanged, severity: 'warning', category: 'stripped', blame: 'gateway', title: 'Content-Type changed by the gateway' },
  { id: GATEWAY.bytesChanged, severity: 'info', category: 'stripped', blame: 'gateway', title: 'framing or bytes changed, the multistatus the same' },
]);

export const isGatewayRule = (id: string): boolean => gatewayRules.some((r) => r.id === id);
