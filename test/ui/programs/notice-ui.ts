// Runs the UI the way the proxy does and, after a moment, gives it a warning to show (as the proxy
// does when recording fails while the UI owns the terminal).
import { runUi } from '../../../ui/app.js';

const db = process.argv[2]!;
let notice: string | null = null;
const later = setTimeout(() => (notice = 'recording failed (relaying goes on): database or disk is full (SQLITE_FULL)'), 800);
await runUi({ dbPath: db, notice: () => notice, utc: true });
clearTimeout(later);
