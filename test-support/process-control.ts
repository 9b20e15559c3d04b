/**
 * A part of a test fleet that the fault-injection suite can hit: kill -9, freeze (SIGSTOP) and thaw
 * (SIGCONT), graceful restart, always on the same ports and data so the rest of the fleet sees the
 * same peer come back.
 */
import type { ManagedProcess } from './process.ts';

export interface ControlledPart {
  readonly name: string;
  /** Starts the process and resolves once it is ready (listening). */
  start(): Promise<void>;
  /** Graceful stop (SIGTERM, bounded by the process helper's SIGKILL fallback). */
  stop(): Promise<void>;
  readonly proc: ManagedProcess | undefined;
}

export class ProcessController {
  private frozen = false;

  constructor(readonly part: ControlledPart) {}

  get name(): string {
    return this.part.name;
  }

  private get child() {
    return this.part.proc?.child;
  }

  get alive(): boolean {
    const c = this.child;
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  /** SIGKILL and wait for the exit: nothing in the process gets to run again. */
  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || !this.alive) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    if (this.frozen) this.frozen = false; // SIGKILL ends a stopped process too
    c.kill('SIGKILL');
    await exited;
  }

  freeze(): void {
    if (!this.alive || this.frozen) return;
    this.child?.kill('SIGSTOP');
    this.frozen = true;
  }

  thaw(): void {
    if (!this.frozen) return;
    this.frozen = false;
    if (this.alive) this.child?.kill('SIGCONT');
  }

  /** Starts the part again if it is not running (after kill9). */
  async revive(): Promise<void> {
    if (this.alive) return;
    await this.part.start();
  }

  async restart(): Promise<void> {
    this.thaw();
    await this.part.stop();
    await this.part.start();
  }

  /** Whatever state the faults left: running and not frozen. */
  async heal(): Promise<void> {
    this.thaw();
    await this.revive();
  }

  async stop(): Promise<void> {
    this.thaw();
    await this.part.stop();
  }
}
