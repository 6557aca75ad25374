// The `?` overlay: every key the UI understands, made from the key table (../keys.ts) so the help
// cannot drift from the bindings; the filter codes come from the filter table itself.
import { filterHelpLines } from '../../src/filter/index.js';
import { keyHelpLines } from '../keys.js';

export const helpLines: readonly string[] = [
  'davtap — keys',
  '',
  ...keyHelpLines(),
  '',
  "Filters (mitmproxy's language; regular expressions are case-insensitive)",
  ...filterHelpLines('  ', 96),
  '',
  'Row markers: ! transport error  * fault injected;  T before the method: the client spoke TLS;',
  '  sandwich: f front flow paired with its back flow  g answered by the gateway itself  b back flow;',
  '  207 column: worst severity first (E error, W warning, I info), then failed/total resources;',
  '  "ok" only when no finding is an error or a warning.  REPORT rows name the report.',
  '  H held by intercept (not over yet): code HOLD for a held request, the status for a held response;',
  '  the path says [held request], […, past patience] once its client has waited longer than',
  '  --intercept-patience (its wait in the time column), […, client gone] once its connection closed.',
  '',
  'j / k, PgDn / PgUp scroll this help; any other key closes it.',
];
