// davtap's relay alone (startProxy in reverse mode, flows dropped: no store, no analyzer), so that
// a change to the relay's own path is measured without the rest of davtap's work diluting it.
// Run as a child: `node --import tsx bench/lib/relay-only.ts http://127.0.0.1:PORT`
// prints `listening PORT` once ready. It runs the built relay (dist/, as davtap itself does): under
// tsx, every closure made per request would carry the transpiler's naming helper as well.
import type * as ProxyModule from '../../src/proxy/index.js';

const { startProxy } = (await import(new URL('../../dist/src/proxy/index.js', import.meta.url).href)) as typeof ProxyModule;
const upstream = new URL(process.argv[2] ?? '');
const proxy = await startProxy({
  listenHost: '127.0.0.1',
  listenPort: 0,
  upstream,
  maxBody: 1024 * 1024,
  maxRequestBody: 1024 * 1024,
  hooks: { onFlow: () => {} },
});
process.stdout.write(`listening ${proxy.port}\n`);
process.on('SIGTERM', () => void proxy.close().then(() => process.exit(0)));
