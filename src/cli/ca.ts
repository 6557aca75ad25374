// Filled in by the relay work; present so the command table compiles.
import { DavtapError } from '../errors.js';
import type { Command } from './io.js';

export const command: Command = {
  summary: 'ca',
  async run() {
    throw new DavtapError('INTERNAL', 'ca: not built yet');
  },
};
