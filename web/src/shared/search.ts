// Filtering and ordering of the courier list. No DOM here.
import type { Courier } from './store';

/** Lower-cased search terms; every term must match (id, name, fleet, an order id or the app). */
export function parseQuery(query: string): string[] {
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter((t) => t !== '');
}

export function matches(c: Courier, terms: readonly string[]): boolean {
  if (terms.length === 0) return true;
  const hay = [c.key, c.name, c.fleet ?? '', c.source ?? '', ...(c.orders ?? [])].join('\u0000').toLowerCase();
  return terms.every((t) => hay.includes(t));
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** By name, then id (numeric-aware: "driver2" before "driver10"). */
export function compareCouriers(a: Courier, b: Courier): number {
  return collator.compare(a.name, b.name) || collator.compare(a.key, b.key);
}
