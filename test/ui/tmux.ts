// Drives a program in a real terminal: a private tmux server (its own socket), send-keys and
// capture-pane. Every wait is bounded; `kill()` stops the server and everything in it.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let sessions = 0;

export class Tmux {
  readonly socket: string;
  private readonly name = 'main';
  private killed = false;

  private constructor(socket: string) {
    this.socket = socket;
  }

  /** Starts `command` (a shell command line) in a detached width×height terminal. */
  static start(command: string, options: { width?: number; height?: number; cwd?: string } = {}): Tmux {
    // A socket path of our own (not a name under tmux's shared directory) so that kill() removes every trace.
    const t = new Tmux(path.join(os.tmpdir(), `davtap-ui-tmux-${process.pid}-${++sessions}-${Date.now()}`));
    t.tmux('new-session', '-d', '-s', t.name, '-x', String(options.width ?? 160), '-y', String(options.height ?? 48), ...(options.cwd ? ['-c', options.cwd] : []), command);
    return t;
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8', timeout: 5000 });
  }

  /** The visible screen as text, one line per row. */
  capture(): string {
    return this.tmux('capture-pane', '-p', '-t', this.name);
  }

  /** The visible screen with its colours and attributes as SGR escape sequences (`capture-pane -e`). */
  captureStyled(): string {
    return this.tmux('capture-pane', '-p', '-e', '-t', this.name);
  }

  /** Keys in tmux's notation: 'j', 'Enter', 'Tab', 'Escape', 'PageDown', or literal text with `literal`. */
  send(...keys: string[]): void {
    this.tmux('send-keys', '-t', this.name, ...keys);
  }

  type(text: string): void {
    this.tmux('send-keys', '-t', this.name, '-l', text);
  }

  resize(width: number, height: number): void {
    this.tmux('resize-window', '-t', this.name, '-x', String(width), '-y', String(height));
  }

  /** Waits until the screen matches, up to `timeoutMs`; returns the screen, or throws with the last one seen. */
  async waitFor(pattern: RegExp | ((screen: string) => boolean), timeoutMs = 15_000, intervalMs = 100): Promise<string> {
    const test = typeof pattern === 'function' ? pattern : (s: string) => pattern.test(s);
    const deadline = Date.now() + timeoutMs;
    let screen = '';
    while (Date.now() < deadline) {
      screen = this.capture();
      if (test(screen)) return screen;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    throw new Error(`screen never matched ${String(pattern)} within ${timeoutMs} ms; last screen:\n${screen}`);
  }

  kill(): void {
    if (this.killed) return;
    this.killed = true;
    try {
      this.tmux('kill-server');
    } catch {
      // Already gone (the program exited and took the last session with it).
    }
    rmSync(this.socket, { force: true });
  }
}

/** Quotes a word for the shell line tmux runs. */
export const sh = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
