import { createServer } from 'node:net';

/**
 * A free loopback TCP port, for third-party servers (mosquitto, postgres, influxd) that cannot bind
 * port 0 and report it. The OS picks the port; callers retry on the rare bind race.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
