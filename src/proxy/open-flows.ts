// Counts the exchanges whose flow has not reached onFlow yet, so that a proxy's close() can wait
// for the flows it cut: they must reach the recorder before the recorder closes.
export class OpenFlows {
  private open = 0;
  private whenIdle: Array<() => void> = [];

  begin(): void {
    this.open++;
  }

  /** Called once an exchange's flow is handed over. */
  done(): void {
    if (--this.open > 0) return;
    for (const wake of this.whenIdle.splice(0)) wake();
  }

  /** Resolves once every exchange begun has handed its flow over, or after `boundMs`. */
  settled(boundMs: number): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, boundMs);
      this.whenIdle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
