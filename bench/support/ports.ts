import { createServer } from 'node:net';

/**
 * Benchmarks' own port range for servers that need a port chosen before they start (Mosquitto):
 * below Linux's ephemeral range (32768–60999), so a port taken from it cannot clash with an outgoing
 * connection's local port (the generator opens up to 10,000 of them). Random start, first free one.
 */
export const BENCH_PORTS = { from: 21_000, to: 21_999 };

export async function benchPort(host = '127.0.0.1'): Promise<number> {
  const span = BENCH_PORTS.to - BENCH_PORTS.from + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = BENCH_PORTS.from + ((start + i) % span);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, host, () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in ${BENCH_PORTS.from}-${BENCH_PORTS.to}`);
}
