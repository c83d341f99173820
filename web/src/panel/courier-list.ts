// The side list: couriers sorted by name, filtered by the search box, with the age of
// their last update, the app they report from and their battery; click to select (and
// focus). Renders at most MAX_ITEMS rows (a search narrows the rest) and reuses row
// elements by courier id, so thousands of couriers stay cheap.
import { formatAge } from '../shared/staleness';
import { compareCouriers, matches, parseQuery } from '../shared/search';
import type { CourierStore } from '../shared/store';
import { DeviceBadges } from '../ui/device-badges';

export const MAX_ITEMS = 500;

interface Row {
  li: HTMLLIElement;
  name: HTMLElement;
  meta: HTMLElement;
  age: HTMLElement;
  device: DeviceBadges;
}

export class CourierList {
  private readonly rows = new Map<string, Row>();
  private sortedKeys: string[] = [];
  private sortedVersion = -1;
  private terms: string[] = [];
  private selected: string | null = null;
  /** Rows currently in the list. */
  rendered = 0;
  /** Couriers matching the search (rendered or not). */
  matching = 0;

  constructor(
    private readonly ul: HTMLUListElement,
    search: HTMLInputElement,
    private readonly summary: HTMLElement,
    private readonly more: HTMLElement,
    private readonly onPick: (id: string) => void,
    private readonly onSearch: () => void,
  ) {
    search.addEventListener('input', () => {
      this.terms = parseQuery(search.value);
      this.onSearch();
    });
    ul.addEventListener('click', (ev) => {
      const li = (ev.target as HTMLElement).closest<HTMLLIElement>('li[data-courier-id]');
      if (li?.dataset.courierId) this.onPick(li.dataset.courierId);
    });
  }

  select(id: string | null): void {
    if (this.selected === id) return;
    if (this.selected !== null) this.rows.get(this.selected)?.li.removeAttribute('aria-current');
    this.selected = id;
    if (id !== null) {
      const row = this.rows.get(id);
      if (row) {
        row.li.setAttribute('aria-current', 'true');
        row.li.scrollIntoView({ block: 'nearest' });
      }
    }
  }

  render(store: CourierStore, now: number, stale: ReadonlySet<string>): void {
    if (this.sortedVersion !== store.membershipVersion) {
      this.sortedKeys = [...store.values()].sort(compareCouriers).map((c) => c.key);
      this.sortedVersion = store.membershipVersion;
    }
    const wanted: Row[] = [];
    let matching = 0;
    for (const key of this.sortedKeys) {
      const c = store.get(key);
      if (!c || !matches(c, this.terms)) continue;
      matching++;
      if (wanted.length >= MAX_ITEMS) continue;
      const row = this.row(key);
      setText(row.name, c.name);
      const meta = [`#${c.key}`, c.fleet, c.orders?.length ? c.orders.join(', ') : undefined]
        .filter(Boolean)
        .join(' · ');
      setText(row.meta, meta);
      setText(row.age, formatAge(now - store.lastSeen(c)));
      row.device.update(c);
      const isStale = stale.has(key) ? 'true' : 'false';
      if (row.li.dataset.stale !== isStale) row.li.dataset.stale = isStale;
      wanted.push(row);
    }

    // Re-order the DOM only when the sequence of rows changed.
    const children = this.ul.children;
    let same = children.length === wanted.length;
    for (let i = 0; same && i < wanted.length; i++) same = children[i] === wanted[i]!.li;
    if (!same) this.ul.replaceChildren(...wanted.map((r) => r.li));

    // Forget rows of couriers that are gone.
    if (this.rows.size > store.size + MAX_ITEMS) {
      for (const key of this.rows.keys()) if (!store.get(key)) this.rows.delete(key);
    }

    this.rendered = wanted.length;
    this.matching = matching;
    const staleText = stale.size ? `, ${stale.size} stale` : '';
    const filtered = this.terms.length ? `${matching} of ` : '';
    setText(this.summary, `${filtered}${store.size} courier${store.size === 1 ? '' : 's'}${staleText}`);
    this.more.hidden = matching <= MAX_ITEMS;
    setText(this.more, `${matching - MAX_ITEMS} more — refine the search`);
  }

  private row(key: string): Row {
    let row = this.rows.get(key);
    if (row) return row;
    const li = document.createElement('li');
    li.className = 'courier';
    li.dataset.courierId = key;
    li.tabIndex = 0;
    li.setAttribute('role', 'button');
    li.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        this.onPick(key);
      }
    });
    const name = el('span', 'courier-name');
    const age = el('span', 'courier-age');
    const meta = el('span', 'courier-meta');
    const device = new DeviceBadges();
    li.append(name, device.root, age, meta);
    if (key === this.selected) li.setAttribute('aria-current', 'true');
    row = { li, name, meta, age, device };
    this.rows.set(key, row);
    return row;
  }
}

function el(tag: string, className: string): HTMLElement {
  const e = document.createElement(tag);
  e.className = className;
  return e;
}

function setText(e: HTMLElement, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}
