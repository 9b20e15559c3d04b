/**
 * Live events of the cloud, as the operator app sees them (GET /api/v1/events): the parts where state
 * changes (ingest, the command pipeline, the VPP dispatch loop) publish here; each SSE connection
 * subscribes and gets what is in its caller's scope. Synchronous, in-process, no buffering: a slow
 * subscriber's backlog is its own connection's business (bounded there).
 */
export type LiveEventName = 'site' | 'command' | 'dispatch' | 'alarm' | 'market';

export interface LiveEvent {
  name: LiveEventName;
  /** The site the event is about (scope: only callers with the site in scope get it). */
  site?: string;
  /** The group the event is about (scope: only callers with the group in scope get it). */
  group?: string;
  data: Record<string, unknown>;
  /** The SSE frame, serialized once by the first stream that sends it (not once per connection). */
  frame?: string;
}

export type LiveListener = (e: LiveEvent) => void;

export class EventHub {
  private listeners = new Set<LiveListener>();

  subscribe(fn: LiveListener): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  publish(e: LiveEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch {
        // A failing subscriber (its connection gone) must not stop the others or the publisher.
      }
    }
  }
}
