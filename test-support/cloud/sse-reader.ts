import assert from 'node:assert/strict';

/** A text/event-stream read with fetch and parsed here: events (name + JSON data) and comments. */
export class SseReader {
  events: { name: string; data: any }[] = [];
  comments: string[] = [];
  ended = false;
  private waiters: (() => void)[] = [];
  private constructor(readonly status: number) {}

  static async open(url: string, headers: Record<string, string>): Promise<SseReader> {
    const res = await fetch(url, { headers });
    const r = new SseReader(res.status);
    if (res.status !== 200 || !res.body) return r;
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    void (async () => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += dec.decode(chunk, { stream: true });
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            r.parse(buf.slice(0, i));
            buf = buf.slice(i + 2);
            i = buf.indexOf('\n\n');
          }
        }
      } catch {
        // aborted
      }
      r.ended = true;
      r.wake();
    })();
    return r;
  }

  private parse(block: string) {
    let name = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trim());
    }
    if (data.length) this.events.push({ name, data: JSON.parse(data.join('\n')) });
    this.wake();
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `pred` holds (checked on every event), or rejects after ms. */
  async until(pred: () => boolean, ms = 10_000, what = 'event'): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
}
