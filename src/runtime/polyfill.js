// libp2p v3 and its parts call Promise.withResolvers, which Node 20 lacks (Node 22+ has it).
// This module is loaded before libp2p: first import of src/index.ts, `--import` for processes,
// and vitest's setupFiles. It changes nothing on a Node that has the method.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}
