// Imported first by the holder's entry, before `pg` loads. pg 8 tells Cloudflare Workers from Node
// by `navigator.userAgent`; where there is no `navigator` (Node 20) it probes with
// `new Response(...)`, which loads undici and compiles its WebAssembly HTTP parser: about 5 MB of
// RSS in every holder, for nothing. Node 21+ defines `navigator` itself; this does the same, only
// in the holder process (the library never touches globals).
const global = globalThis as { navigator?: unknown };
if (global.navigator === undefined) {
  Object.defineProperty(globalThis, 'navigator', {
    value: Object.freeze({ userAgent: `Node.js/${process.versions.node.split('.')[0]}` }),
    configurable: true,
    enumerable: false,
    writable: false,
  });
}
export {};
