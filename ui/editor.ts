// Handing text to the user's editor while the UI owns the terminal (the `e` and `D` keys): the
// screen is suspended (normal buffer, cursor shown, raw mode off, mouse off) while the editor runs
// in the same terminal, and restored and redrawn after it, as git and mitmproxy do.
//
// The editor is $VISUAL, else $EDITOR, else vi, run through the shell so that a value with
// arguments works (`code --wait`, `emacs -nw`). An editor that exits non-zero, or a file left as
// it was written, means "do not send": the caller says so in one line.
import { spawn as spawnChild } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type blessed from 'blessed';

export type EditorResult = { kind: 'edited'; text: string } | { kind: 'unchanged' } | { kind: 'failed'; why: string };

/** The editor command line from the environment: $VISUAL, $EDITOR, then vi (POSIX's default). */
export function editorCommand(env: NodeJS.ProcessEnv): string {
  for (const name of ['VISUAL', 'EDITOR'] as const) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return 'vi';
}

/**
 * Opens `text` in the editor as a file called `name` (its extension helps syntax highlighting)
 * and resolves with what the user saved. The file lives in a private directory (0700, the file
 * 0600: a request may carry credentials) removed afterwards.
 */
export function editInTerminal(screen: blessed.Widgets.Screen | null, command: string, text: string, name: string): Promise<EditorResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'davtap-edit-'));
  const file = path.join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  return new Promise<EditorResult>((resolve) => {
    // `sh -c 'EDITOR "$1"' sh FILE`: the command line is the user's, the file name a separate argument.
    const args = ['-c', `${command} "$1"`, 'sh', file];
    const child = screen ? screen.spawn('sh', args, { stdio: 'inherit' } as never) : spawnChild('sh', args, { stdio: 'inherit' });
    let settled = false;
    const settle = (result: EditorResult) => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(result);
    };
    child.once('error', (err) => settle({ kind: 'failed', why: `the editor (${command}) did not start: ${err.message}` }));
    child.once('exit', (code, signal) => {
      if (code !== 0) return settle({ kind: 'failed', why: `the editor (${command}) ${signal ? `was killed by ${signal}` : `exited with status ${code}`}` });
      let saved: string;
      try {
        saved = readFileSync(file, 'utf8');
      } catch (err) {
        return settle({ kind: 'failed', why: `the edited file could not be read: ${(err as Error).message}` });
      }
      settle(saved === text ? { kind: 'unchanged' } : { kind: 'edited', text: saved });
    });
  });
}
