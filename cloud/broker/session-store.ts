import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import Database from 'better-sqlite3';

/**
 * aedes persistence that keeps persistent sessions on disk (SQLite, the cloud's data folder), so a
 * gateway's subscriptions and the QoS 1 commands queued for it survive a restart of the cloud.
 *
 * aedes-persistence's in-memory implementation stays the working copy (its topic trie answers every
 * publish); every change to a session's subscriptions or outgoing queue is written through to SQLite
 * before the call resolves, and the file is replayed into memory at setup. No npm package maintains an
 * embedded (serverless) aedes persistence for aedes 1.x, hence this small one.
 *
 * Not kept across restarts: retained messages, wills and inbound QoS 2 state. The gridlayer protocol
 * uses no retained messages and no QoS 2; a will is about a connection the restart ended anyway.
 */

type Packet = {
  cmd: string;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  dup: boolean;
  brokerId: string;
  brokerCounter: number;
  messageId?: number;
};
type Sub = { topic: string; qos: number; rh?: number; rap?: boolean; nl?: boolean };
type ClientRef = { id: string };
interface AsyncPersistence {
  setup(broker: unknown): Promise<void>;
  addSubscriptions(client: ClientRef, subs: Sub[]): Promise<void>;
  removeSubscriptions(client: ClientRef, topics: string[]): Promise<void>;
  cleanSubscriptions(client: ClientRef): Promise<void>;
  outgoingEnqueue(sub: { clientId: string }, packet: Packet): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: Packet): Promise<void>;
  outgoingUpdate(client: ClientRef, packet: Packet): Promise<void>;
  outgoingClearMessageId(client: ClientRef, packet: Packet): Promise<Packet | undefined>;
  outgoingStream(client: ClientRef): Readable;
  destroy(): Promise<void>;
  [k: string]: unknown;
}

const MemoryPersistence = createRequire(import.meta.url)('aedes-persistence/asyncPersistence.js') as new (
  opts?: object,
) => AsyncPersistence;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS subscriptions (
  client_id TEXT NOT NULL, topic TEXT NOT NULL, qos INTEGER NOT NULL, options TEXT NOT NULL,
  PRIMARY KEY (client_id, topic)
);
CREATE TABLE IF NOT EXISTS outgoing (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  client_id TEXT NOT NULL, broker_id TEXT NOT NULL, broker_counter INTEGER NOT NULL,
  message_id INTEGER, header TEXT NOT NULL, payload BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS outgoing_identity ON outgoing (client_id, broker_id, broker_counter);
`;

function header(p: Packet): string {
  return JSON.stringify({ cmd: p.cmd, topic: p.topic, qos: p.qos, retain: p.retain, dup: p.dup });
}

/** Creates the persistence for `aedes({ persistence })`; `path` ':memory:' keeps nothing on disk. */
export function sqlitePersistence(path: string): AsyncPersistence {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // A queued command is acknowledged to the API once it is here: FULL survives power loss too.
  db.pragma('synchronous = FULL');
  db.exec(SCHEMA);
  const q = {
    addSub: db.prepare(
      'INSERT INTO subscriptions (client_id, topic, qos, options) VALUES (?, ?, ?, ?) ON CONFLICT (client_id, topic) DO UPDATE SET qos = excluded.qos, options = excluded.options',
    ),
    delSub: db.prepare('DELETE FROM subscriptions WHERE client_id = ? AND topic = ?'),
    cleanSubs: db.prepare('DELETE FROM subscriptions WHERE client_id = ?'),
    enqueue: db.prepare(
      'INSERT OR IGNORE INTO outgoing (client_id, broker_id, broker_counter, message_id, header, payload) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    updateById: db.prepare(
      'UPDATE outgoing SET message_id = ? WHERE client_id = ? AND broker_id = ? AND broker_counter = ?',
    ),
    replaceByMessageId: db.prepare(
      'UPDATE outgoing SET broker_id = ?, broker_counter = ?, header = ?, payload = ? WHERE client_id = ? AND message_id = ?',
    ),
    clear: db.prepare('DELETE FROM outgoing WHERE client_id = ? AND broker_id = ? AND broker_counter = ?'),
  };
  const enqueueAll = (ids: string[], p: Packet) => {
    for (const id of ids)
      q.enqueue.run(id, p.brokerId, p.brokerCounter, p.messageId ?? null, header(p), p.payload);
  };

  // Group commit: the writes of one turn of the event loop (a dispatch step queues thousands of
  // commands, a reconnect storm thousands of subscriptions) go to disk in one transaction, one fsync,
  // in the order they were made. Each caller resolves only once its write is committed, so nothing
  // is reported queued before it is on disk. A failing statement fails its whole batch (rolled back).
  let pending: { write: () => void; done: (err?: Error) => void }[] = [];
  let scheduled = false;
  const commit = db.transaction((batch: typeof pending) => {
    for (const w of batch) w.write();
  });
  const flush = () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (!batch.length) return;
    let err: Error | undefined;
    try {
      if (!db.open) throw new Error('session store closed');
      commit(batch);
    } catch (e) {
      err = e as Error;
    }
    for (const w of batch) w.done(err);
  };
  const persist = (write: () => void) =>
    new Promise<void>((resolve, reject) => {
      pending.push({ write, done: (err) => (err ? reject(err) : resolve()) });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });

  const mem = new MemoryPersistence();
  let closed = false;
  const own: Partial<AsyncPersistence> = {
    async setup(broker: unknown) {
      await mem.setup(broker);
      // Replay the sessions the file holds into the working copy (in their original order).
      const subs = db.prepare('SELECT client_id, topic, qos, options FROM subscriptions').all() as {
        client_id: string;
        topic: string;
        qos: number;
        options: string;
      }[];
      for (const s of subs)
        await mem.addSubscriptions({ id: s.client_id }, [
          { topic: s.topic, qos: s.qos, ...JSON.parse(s.options) },
        ]);
      const rows = db
        .prepare(
          'SELECT client_id, broker_id, broker_counter, message_id, header, payload FROM outgoing ORDER BY seq',
        )
        .all() as {
        client_id: string;
        broker_id: string;
        broker_counter: number;
        message_id: number | null;
        header: string;
        payload: Buffer;
      }[];
      for (const r of rows) {
        const p: Packet = {
          ...JSON.parse(r.header),
          payload: r.payload,
          brokerId: r.broker_id,
          brokerCounter: r.broker_counter,
          ...(r.message_id === null ? {} : { messageId: r.message_id }),
        };
        await mem.outgoingEnqueue({ clientId: r.client_id }, p);
      }
    },
    async addSubscriptions(client: ClientRef, subs: Sub[]) {
      await persist(() => {
        for (const s of subs)
          q.addSub.run(client.id, s.topic, s.qos, JSON.stringify({ rh: s.rh, rap: s.rap, nl: s.nl }));
      });
      await mem.addSubscriptions(client, subs);
    },
    async removeSubscriptions(client: ClientRef, topics: string[]) {
      await persist(() => {
        for (const t of topics) q.delSub.run(client.id, t);
      });
      await mem.removeSubscriptions(client, topics);
    },
    async cleanSubscriptions(client: ClientRef) {
      await persist(() => q.cleanSubs.run(client.id));
      await mem.cleanSubscriptions(client);
    },
    async outgoingEnqueue(sub: { clientId: string }, packet: Packet) {
      await persist(() => enqueueAll([sub.clientId], packet));
      await mem.outgoingEnqueue(sub, packet);
    },
    async outgoingEnqueueCombi(subs: { clientId: string }[], packet: Packet) {
      if (subs.length) {
        const ids = subs.map((s) => s.clientId);
        await persist(() => enqueueAll(ids, packet));
      }
      await mem.outgoingEnqueueCombi(subs, packet);
    },
    async outgoingUpdate(client: ClientRef, packet: Packet) {
      await mem.outgoingUpdate(client, packet);
      // Same matching as the working copy: by broker identity, else a packet replacing the same message id.
      await persist(() => {
        const r = q.updateById.run(
          packet.messageId ?? null,
          client.id,
          packet.brokerId,
          packet.brokerCounter,
        );
        if (!r.changes && packet.messageId !== undefined)
          q.replaceByMessageId.run(
            packet.brokerId,
            packet.brokerCounter,
            header(packet),
            packet.payload,
            client.id,
            packet.messageId,
          );
      });
    },
    async outgoingClearMessageId(client: ClientRef, packet: Packet) {
      const removed = await mem.outgoingClearMessageId(client, packet);
      if (removed) await persist(() => q.clear.run(client.id, removed.brokerId, removed.brokerCounter));
      return removed;
    },
    async destroy() {
      if (closed) return;
      closed = true;
      flush(); // what is queued is written before the file closes
      await mem.destroy();
      db.close();
    },
  };
  // Everything not overridden goes to the working copy, called on it (its fields are #private).
  return new Proxy(own as AsyncPersistence, {
    get(target, prop) {
      if (Object.hasOwn(target, prop)) return target[prop as string];
      const v = Reflect.get(mem, prop, mem);
      return typeof v === 'function' ? v.bind(mem) : v;
    },
  });
}
