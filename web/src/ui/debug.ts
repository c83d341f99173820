// window.peyk: the stable debug/benchmark surface the browser tests read (counts,
// connection state, frame times) and drive (inject frames, focus a courier).
declare global {
  interface Window {
    peyk?: unknown;
  }
}

export function exposeDebug(api: object): void {
  window.peyk = api;
}
