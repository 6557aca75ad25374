// Filled in by the relay work; present so the command table compiles.
import { DavtapError } from '../errors.js';
import type { Command } from './io.js';

export const command: Command = {
  summary: 'proxy',
  async run() {
    throw new DavtapError('INTERNAL', 'proxy: not built yet');
  },
};
