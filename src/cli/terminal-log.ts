// Lines for the user while a terminal UI may own the screen: written to stderr at once, or held
// until the UI closes (the newest one shown meanwhile in its status bar). `davtap proxy`,
// `davtap demo` and `davtap sandwich` share it.
import type { CliIO } from './io.js';

const withNewline = (line: string): string => (line.endsWith('\n') ? line : line + '\n');

export class TerminalLog {
  private readonly held: string[] = [];
  private holding: boolean;
  /** The newest warning logged while the UI is up (for its status bar). */
  private newest: string | null = null;

  constructor(
    private readonly io: CliIO,
    uiOwnsTerminal: boolean,
  ) {
    this.holding = uiOwnsTerminal;
  }

  /** A warning: on stderr, or held while the UI owns the terminal, its status bar showing the newest. */
  readonly log = (line: string): void => {
    if (this.holding) {
      this.held.push(withNewline(line));
      this.newest = line.replace(/^davtap: /, '').trim();
    } else this.io.stderr.write(withNewline(line));
  };

  /** A line of information: on stderr, or held until the UI closes (not shown as a warning). */
  readonly say = (line: string): void => {
    if (this.holding) this.held.push(withNewline(line));
    else this.log(line);
  };

  /** Held for after the UI whatever happens (the start-up line, the UI's own failure). */
  keep(line: string): void {
    this.held.push(withNewline(line));
  }

  readonly notice = (): string | null => this.newest;

  /** The UI is gone: print what was held, and write later lines at once. */
  release(): void {
    this.holding = false;
    for (const line of this.held.splice(0)) this.io.stderr.write(line);
  }
}
