import type { Readable } from 'node:stream';

/** The largest CONNECT accepted: client id, username, password and a will fit in far less. */
export const MAX_CONNECT_BYTES = 64 * 1024;

export type PacketRefusal =
  | 'not-connect-first'
  | 'connect-too-large'
  | 'packet-too-large'
  | 'malformed-length';

/**
 * Enforces MQTT packet sizes on a connection before aedes buffers anything: aedes has no packet-size
 * option and would collect an announced 200 MB packet in memory, even before authentication. This reads
 * each fixed header as the bytes pass (a 'data' listener next to aedes's 'readable' one observes every
 * chunk aedes reads, in order) and destroys the connection as soon as an announced remaining length is
 * over the limit: the first packet must be a CONNECT of at most MAX_CONNECT_BYTES, every later packet at
 * most `maxPacketBytes`, and until the login is accepted at most `maxPacketBytes` may follow the CONNECT.
 */
export function guardPacketSizes(
  stream: Readable & { destroy(err?: Error): unknown },
  opts: { maxPacketBytes: number; isAuthenticated: () => boolean; onRefused: (why: PacketRefusal) => void },
): void {
  let packets = 0;
  let inHeader = true; // at a packet boundary or inside the remaining-length bytes
  let lengthBytes = -1; // -1: type byte expected next
  let length = 0;
  let multiplier = 1;
  let skip = 0;
  let afterConnect = 0;
  let refused = false;

  const refuse = (why: PacketRefusal) => {
    refused = true;
    stream.off('data', onData);
    opts.onRefused(why);
    stream.destroy();
  };

  const onData = (chunk: Buffer) => {
    if (refused) return;
    if (packets > 0 && !opts.isAuthenticated()) {
      afterConnect += chunk.length;
      if (afterConnect > opts.maxPacketBytes + 5) return refuse('packet-too-large');
    }
    let i = 0;
    while (i < chunk.length) {
      if (!inHeader) {
        const take = Math.min(skip, chunk.length - i);
        skip -= take;
        i += take;
        if (skip === 0) inHeader = true;
        continue;
      }
      const b = chunk[i++] as number;
      if (lengthBytes < 0) {
        packets++;
        if (packets === 1 && b >> 4 !== 1) return refuse('not-connect-first');
        lengthBytes = 0;
        length = 0;
        multiplier = 1;
        continue;
      }
      length += (b & 0x7f) * multiplier;
      multiplier *= 128;
      lengthBytes++;
      if (b & 0x80) {
        if (lengthBytes >= 4) return refuse('malformed-length');
        continue;
      }
      if (packets === 1 && length > MAX_CONNECT_BYTES) return refuse('connect-too-large');
      if (length > opts.maxPacketBytes) return refuse('packet-too-large');
      lengthBytes = -1;
      skip = length;
      inHeader = skip === 0;
    }
  };
  stream.on('data', onData);
}
