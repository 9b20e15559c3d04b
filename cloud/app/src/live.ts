/**
 * Live updates pushed by the cloud (Server-Sent Events at /api/v1/events, same session): one shared
 * connection for the whole app, handlers per event name. The browser reconnects by itself.
 */
type Handler = (data: unknown) => void;

const handlers = new Map<string, Set<Handler>>();
let source: EventSource | undefined;

function listen(name: string) {
  source?.addEventListener(name, (e) => {
    let data: unknown;
    try {
      data = JSON.parse((e as MessageEvent).data);
    } catch {
      return;
    }
    for (const h of handlers.get(name) ?? []) h(data);
  });
}

export function connectLive(): void {
  if (source) return;
  source = new EventSource('/api/v1/events');
  for (const name of handlers.keys()) listen(name);
}

export function disconnectLive(): void {
  source?.close();
  source = undefined;
}

/** Subscribes to one event name; returns the unsubscribe. */
export function onEvent<T>(name: string, handler: (data: T) => void): () => void {
  const h = handler as Handler;
  let set = handlers.get(name);
  if (!set) {
    set = new Set();
    handlers.set(name, set);
    listen(name);
  }
  set.add(h);
  return () => set.delete(h);
}
