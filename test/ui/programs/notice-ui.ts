// Runs the UI the way the proxy does and gives it a warning to show (as the proxy does when
// recording fails while the UI owns the terminal) once the test creates the file named by the
// second argument: the test decides when, after it has seen the screen without the warning.
import { existsSync } from 'node:fs';
import { runUi } from '../../../ui/app.js';

const db = process.argv[2]!;
const trigger = process.argv[3]!;
const text = 'recording failed (relaying goes on): database or disk is full (SQLITE_FULL)';
await runUi({ dbPath: db, notice: () => (existsSync(trigger) ? text : null), utc: true });
