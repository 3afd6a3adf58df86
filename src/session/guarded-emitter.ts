import type { EventEmitter } from 'eventemitter3';

type Listener = (...args: unknown[]) => void;

/**
 * Makes every listener of `emitter` fault-contained: a listener that throws is reported to
 * `onError` and the remaining listeners still run (eventemitter3 stops at the first throw).
 * Listeners are wrapped where they are added, so `once` keeps its meaning and `off(event, fn)`
 * finds the wrapper of `fn`.
 */
export function guardListeners(emitter: EventEmitter<any>, onError: (event: string, error: unknown) => void): void {
  const byEvent = new Map<string | symbol, WeakMap<Listener, Listener>>();
  const wrappersOf = (event: string | symbol): WeakMap<Listener, Listener> => {
    let wrappers = byEvent.get(event);
    if (wrappers === undefined) byEvent.set(event, (wrappers = new WeakMap()));
    return wrappers;
  };
  const wrap = (event: string | symbol, fn: Listener): Listener => {
    if (typeof fn !== 'function') return fn;
    const wrappers = wrappersOf(event);
    let wrapper = wrappers.get(fn);
    if (wrapper === undefined) {
      wrapper = function (this: unknown, ...args: unknown[]) {
        try {
          fn.apply(this, args);
        } catch (error) {
          onError(String(event), error);
        }
      };
      wrappers.set(fn, wrapper);
    }
    return wrapper;
  };
  const target = emitter as unknown as Record<string, (event: string | symbol, fn: Listener, ...rest: unknown[]) => unknown>;
  for (const method of ['on', 'addListener', 'once']) {
    const original = target[method]!.bind(emitter);
    target[method] = (event, fn, ...rest) => {
      original(event, wrap(event, fn), ...rest);
      return emitter;
    };
  }
  for (const method of ['off', 'removeListener']) {
    const original = target[method]!.bind(emitter);
    target[method] = (event, fn, ...rest) => {
      original(event, (fn !== undefined && byEvent.get(event)?.get(fn)) || fn, ...rest);
      return emitter;
    };
  }
}
