// Credential redaction, shared by the exports, the terminal UI and the `--no-ui` flow lines. PURE:
// no I/O, no other layer; the one table of secret names lives in names.ts.
export { defaultSecretNames, secretNameTest, type SecretNameTest } from './names.js';
export { createRedactor, REDACTED, secretNames, type RedactOptions, type Redactor } from './redactor.js';
export { redactFinding, redactFlow } from './flow.js';
