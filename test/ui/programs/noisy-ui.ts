// Runs the UI the way the proxy does (in-process, flows still pending) while code keeps writing to
// the console: the screen must stay clean, and the console must work again after quitting.
import { runUi } from '../../../ui/app.js';

const db = process.argv[2]!;
let pending = 3;
const noise = setInterval(() => {
  console.log('stray console.log noise');
  console.error('stray console.error noise');
}, 50);
await runUi({ dbPath: db, pendingWrites: () => pending, utc: true });
clearInterval(noise);
pending = 0;
console.log('console restored after the UI');
