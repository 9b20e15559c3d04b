/**
 * One start/stop contract for every long-lived part, and the list that walks it: shared by the two
 * composition roots, the cloud (cloud/service.ts) and the edge agent (edge/agent.ts), which is why it
 * lives in runtime/ and imports nothing of either.
 *
 * A composition root starts its parts one after the other through a `LifecycleList`; stop() (and a start that fails half-way) stops what started in reverse order, so
 * there is one shutdown order, not one for a failed start and another for a normal stop. Stopping has
 * two phases because of what the ingest path promises: first every part `drain`s in reverse (the
 * broker stops accepting connections, then the ingest flushes the messages it has taken and
 * acknowledges them over the still-open connections), then every part `stop`s in reverse (services,
 * then the MQTT connections, then the databases). Each step is bounded so a peer that never answers
 * cannot hold the process; a step that runs out of time is logged and abandoned, and the next runs.
 */
import type { Logger } from 'pino';

/**
 * A long-lived part. Sync methods are allowed so existing classes (`start(): void`) fit as they are.
 * Results of start() that later parts need are read from the part object itself (e.g. `store.value`).
 */
export interface Lifecycle {
  readonly name: string;
  start(): Promise<void> | void;
  /** First stop phase, run for every part before any part stops: stop taking work in, flush what was taken. */
  drain?(): Promise<void> | void;
  stop(): Promise<void> | void;
}

/** Bound of one stop step. */
export const STOP_STEP_MS = 5000;
/** Upper bound of stop() as a whole: a step gets at most what is left of it (and at least MIN_STEP_MS). */
export const STOP_BOUND_MS = 10_000;
/** What a step gets once the overall deadline has passed (so later steps still get a chance). */
const MIN_STEP_MS = 100;
/** Kept back from the bound for the logging and bookkeeping around the steps. */
const STOP_SLACK_MS = 400;

/** Runs one stop step: its failure is logged, and on timeout it is abandoned (logged) so the next runs. */
async function boundedStep(
  name: string,
  fn: () => unknown,
  deadline: number,
  stepMs: number,
  log: Logger,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ms = Math.max(MIN_STEP_MS, Math.min(stepMs, deadline - Date.now()));
  log.debug({ step: name, ms }, 'stop step');
  const timedOut = new Promise<void>((r) => {
    timer = setTimeout(() => {
      log.warn({ step: name, ms }, 'stop step timed out; continuing');
      r();
    }, ms);
  });
  const run = (async () => fn())().then(
    () => undefined,
    (err) => log.error({ err, step: name }, 'stop step failed'),
  );
  await Promise.race([run, timedOut]).finally(() => clearTimeout(timer));
}

/** Parts in start order; stop() drains, then stops, the started ones in reverse. */
export class LifecycleList {
  readonly #started: Lifecycle[] = [];
  #stopping: Promise<void> | undefined;

  /** `boundMs`: the whole stop; `stepMs`: one step at most (the edge keeps both shorter than the cloud). */
  constructor(
    private readonly log: Logger,
    private readonly boundMs = STOP_BOUND_MS,
    private readonly stepMs = STOP_STEP_MS,
  ) {}

  /** Names of the started parts, in start order. */
  get started(): string[] {
    return this.#started.map((p) => p.name);
  }

  /** Starts `part` and returns it; a part whose start() throws is not added (it cleans up after itself). */
  async start<P extends Lifecycle>(part: P): Promise<P> {
    if (this.#stopping) throw new Error(`cannot start ${part.name}: stopping`);
    await part.start();
    this.#started.push(part);
    return part;
  }

  /** Starts a `resource` part (see below) and returns what it opened. */
  async open<T>(
    name: string,
    open: () => Promise<T> | T,
    close: (value: T) => Promise<void> | void,
    drain?: (value: T) => Promise<void> | void,
  ): Promise<T> {
    return (await this.start(resource(name, open, close, drain))).value;
  }

  /**
   * Drains then stops every started part in reverse order, each step bounded; the whole stop ends
   * within `boundMs`. Idempotent: a second call returns the first call's promise.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  async #stopAll(): Promise<void> {
    const reversed = [...this.#started].reverse();
    const steps: [string, () => unknown][] = [];
    for (const p of reversed) if (p.drain) steps.push([`${p.name}: drain`, () => p.drain?.()]);
    for (const p of reversed) steps.push([p.name, () => p.stop()]);
    // The deadline leaves MIN_STEP_MS for every step, so even if each step before it timed out the
    // last one still ends within boundMs (12 steps with the full config: 10 s − 0.4 s − 1.2 s = 8.4 s).
    const deadline = Date.now() + this.boundMs - STOP_SLACK_MS - MIN_STEP_MS * steps.length;
    for (const [name, fn] of steps) await boundedStep(name, fn, deadline, this.stepMs, this.log);
  }
}

/** A part whose start opens something (a database, a broker) that later parts use: read it as `.value`. */
export interface Resource<T> extends Lifecycle {
  readonly value: T;
}

/** Adapts an open()/close() pair (static open(), start functions) to the one contract. */
export function resource<T>(
  name: string,
  open: () => Promise<T> | T,
  close: (value: T) => Promise<void> | void,
  drain?: (value: T) => Promise<void> | void,
): Resource<T> {
  let opened: { value: T } | undefined;
  const get = (): T => {
    if (!opened) throw new Error(`${name} is not started`);
    return opened.value;
  };
  return {
    name,
    get value() {
      return get();
    },
    async start() {
      opened = { value: await open() };
    },
    ...(drain ? { drain: () => drain(get()) } : {}),
    stop: () => close(get()),
  };
}

/** Adapts an object that already has start()/stop() (constructor + start()) by giving it a name. */
export function named(name: string, part: { start(): unknown; stop(): unknown }): Lifecycle {
  return {
    name,
    start: async () => {
      await part.start();
    },
    stop: async () => {
      await part.stop();
    },
  };
}
