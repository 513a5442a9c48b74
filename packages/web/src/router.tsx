/** A tiny history-API router: parse the path into a Route; <Link> and navigate() push history. */
import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from 'react';

export type Route =
  | { name: 'hallway' }
  | { name: 'signin' }
  | { name: 'signup' }
  | { name: 'room'; id: string }
  | { name: 'profile'; username: string }
  | { name: 'clubs' }
  | { name: 'club'; id: string }
  | { name: 'events' }
  | { name: 'settings' }
  | { name: 'notFound' };

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [a, b, ...rest] = parts;
  if (rest.length > 0) return { name: 'notFound' };
  if (a === undefined) return { name: 'hallway' };
  if (b === undefined) {
    if (a === 'signin') return { name: 'signin' };
    if (a === 'signup') return { name: 'signup' };
    if (a === 'clubs') return { name: 'clubs' };
    if (a === 'events') return { name: 'events' };
    if (a === 'settings') return { name: 'settings' };
    return { name: 'notFound' };
  }
  if (a === 'room') return { name: 'room', id: b };
  if (a === 'u') return { name: 'profile', username: b };
  if (a === 'clubs') return { name: 'club', id: b };
  return { name: 'notFound' };
}

const NAV_EVENT = 'sotto:navigate';

function subscribe(cb: () => void): () => void {
  window.addEventListener('popstate', cb);
  window.addEventListener(NAV_EVENT, cb);
  return () => {
    window.removeEventListener('popstate', cb);
    window.removeEventListener(NAV_EVENT, cb);
  };
}

const getLocation = () => window.location.pathname + window.location.search;

/** The current path + query string; re-renders on navigation. */
export function useLocation(): { pathname: string; search: URLSearchParams } {
  const loc = useSyncExternalStore(subscribe, getLocation);
  const url = new URL(loc, window.location.origin);
  return { pathname: url.pathname, search: url.searchParams };
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === getLocation()) return;
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(NAV_EVENT));
  window.scrollTo(0, 0);
}

export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (rest.target && rest.target !== '_self') return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={handle} {...rest} />;
}

export const paths = {
  hallway: () => '/',
  signin: (next?: string) => (next && next !== '/' ? `/signin?next=${encodeURIComponent(next)}` : '/signin'),
  signup: () => '/signup',
  room: (id: string) => `/room/${encodeURIComponent(id)}`,
  profile: (username: string) => `/u/${encodeURIComponent(username)}`,
  clubs: () => '/clubs',
  club: (id: string) => `/clubs/${encodeURIComponent(id)}`,
  events: () => '/events',
  settings: () => '/settings',
};
