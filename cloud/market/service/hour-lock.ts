/**
 * One holder per key at a time (in process): the metered settlement of an hour, whether the API or
 * the scheduler runs it. Without it two concurrent re-runs of one hour can both insert a run on
 * PostgreSQL (each transaction deletes the old run before the other one's insert is visible).
 */
export class KeyedLock<K> {
  readonly #tails = new Map<K, Promise<unknown>>();

  async run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const mine = prev.catch(() => undefined).then(fn);
    const tail = mine.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await mine;
    } finally {
      // The last holder of a key removes it, so idle keys do not accumulate.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
