import type { Logger } from 'pino';

export interface LoginThrottleOptions {
  /** Failed logins from one address within a window after which its further attempts are refused unchecked. */
  maxFailures: number;
  windowMs: number;
  log: Logger;
}

/**
 * Per-source-address login throttle for the broker, with a summary log: a flood of wrong logins gives one
 * WARN per window (counts and the worst addresses), not one line per attempt. An address's window starts
 * at its first failure; once it has maxFailures in it, its further attempts are refused without a
 * password check until the window ends, except for a site that has logged in from that address before:
 * a flood from a shared address (NAT) must not lock out the gateways that already work from there.
 * (Site secrets are 256-bit random: checking a known site's password costs nothing worth guarding.)
 */
export class LoginThrottle {
  private windows = new Map<string, { start: number; failures: number }>();
  /** "<address> <site>" pairs that logged in successfully (bounded; cleared when full). */
  private known = new Set<string>();
  private failures = new Map<string, number>();
  private refused = new Map<string, number>();
  private oversized = new Map<string, number>();
  private timer: NodeJS.Timeout;

  constructor(private readonly o: LoginThrottleOptions) {
    this.timer = setInterval(() => this.flush(), o.windowMs);
    this.timer.unref();
  }

  /** True when `address` has used up its failures for this window (and `site` never logged in from it). */
  blocked(address: string, site?: string): boolean {
    if (site !== undefined && this.known.has(`${address} ${site}`)) return false;
    const w = this.current(address);
    const over = !!w && w.failures >= this.o.maxFailures;
    if (over) bump(this.refused, address);
    return over;
  }

  succeeded(address: string, site: string): void {
    if (this.known.size >= 100_000) this.known.clear();
    this.known.add(`${address} ${site}`);
  }

  failed(address: string): void {
    const w = this.current(address) ?? { start: Date.now(), failures: 0 };
    w.failures++;
    this.windows.set(address, w);
    bump(this.failures, address);
  }

  private current(address: string) {
    const w = this.windows.get(address);
    if (w && Date.now() - w.start >= this.o.windowMs) {
      this.windows.delete(address);
      return undefined;
    }
    return w;
  }

  /** A connection closed for an oversized or malformed packet before it logged in. */
  oversizedPacket(address: string): void {
    bump(this.oversized, address);
  }

  /** Logs the window's summary (if anything happened) and starts a new window. */
  flush(): void {
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const failed = sum(this.failures);
    const refused = sum(this.refused);
    const oversized = sum(this.oversized);
    if (failed || refused || oversized) {
      const worst = [...this.failures.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([address, failures]) => ({
          address,
          failures,
          refusedUnchecked: this.refused.get(address) ?? 0,
        }));
      this.o.log.warn(
        {
          windowSeconds: this.o.windowMs / 1000,
          failedLogins: failed,
          refusedUnchecked: refused,
          oversizedBeforeLogin: oversized,
          addresses: new Set([...this.failures.keys(), ...this.oversized.keys()]).size,
          worst,
        },
        'MQTT login failures in the last window',
      );
    }
    this.failures.clear();
    this.refused.clear();
    for (const a of [...this.windows.keys()]) this.current(a); // forget ended windows
    this.oversized.clear();
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

function bump(m: Map<string, number>, k: string) {
  m.set(k, (m.get(k) ?? 0) + 1);
}
