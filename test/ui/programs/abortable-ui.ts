// Runs the UI as the proxy does, with writes pending, and closes it from outside on SIGTERM (the
// proxy shutting down): the UI must close without asking, and leave the terminal usable.
import { writeFileSync } from 'node:fs';
import { runUi } from '../../../ui/app.js';

const [db, pidFile] = process.argv.slice(2) as [string, string];
const abort = new AbortController();
process.on('SIGTERM', () => abort.abort());
writeFileSync(pidFile, String(process.pid));
await runUi({ dbPath: db, pendingWrites: () => 5, signal: abort.signal });
console.log('ui closed by the caller');
