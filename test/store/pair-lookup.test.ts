// Sandwich mode: the pair view opened on a back flow finds its front flow through the store
// (flows.paired_with), by a reader of the file; a file from before the sandwich has none.
import test from 'ava';
import { createFlowWriter, openReader, openStore, Store } from '../../src/store/index.js';
import { makeFlow } from './make-flow.js';
import { tempDb } from './temp.js';

test('a reader finds the front flow paired with a back flow, and null for a back flow no front flow claims', (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  const writer = createFlowWriter(store);
  writer.enqueue({ ...makeFlow(1, { resources: 1 }), id: 'back-1', leg: 'back' });
  writer.enqueue({ ...makeFlow(2, { resources: 1 }), id: 'front-1', leg: 'front', pairedWith: 'back-1' });
  writer.enqueue({ ...makeFlow(3, { resources: 1 }), id: 'back-2', leg: 'back' });
  writer.flush();
  store.close();
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.frontFlowOf('back-1'), 'front-1');
  t.is(reader.frontFlowOf('back-2'), null);
  t.is(reader.frontFlowOf('front-1'), null);
});

test('a file from before the sandwich (schema 8) answers null', (t) => {
  const file = tempDb(t);
  new Store(file, {}, 8).close();
  const reader = openReader(file);
  t.teardown(() => reader.close());
  t.is(reader.frontFlowOf('any'), null);
});
