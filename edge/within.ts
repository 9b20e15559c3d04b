/**
 * Bounded waiting for stop paths: a peer that is gone (or frozen by SIGSTOP) may never answer, and a
 * stop must still finish in a stated time. Failures and time-outs are reported, never thrown.
 */
export type StepResult = 'done' | 'failed' | 'timed out';

export function within(work: Promise<unknown> | (() => Promise<unknown>), ms: number): Promise<StepResult> {
  return new Promise<StepResult>((resolve) => {
    const timer = setTimeout(() => resolve('timed out'), ms);
    timer.unref();
    let p: Promise<unknown>;
    try {
      p = typeof work === 'function' ? work() : work;
    } catch {
      clearTimeout(timer);
      resolve('failed');
      return;
    }
    p.then(
      () => {
        clearTimeout(timer);
        resolve('done');
      },
      () => {
        clearTimeout(timer);
        resolve('failed');
      },
    );
  });
}
