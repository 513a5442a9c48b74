import { useEffect } from 'react';
import { AuthPage } from './pages/auth.tsx';
import { ClubPage, ClubsPage } from './pages/clubs.tsx';
import { EventsPage } from './pages/events.tsx';
import { HallwayPage } from './pages/hallway.tsx';
import { ProfilePage } from './pages/profile.tsx';
import { RoomPage } from './pages/room.tsx';
import { SettingsPage } from './pages/settings.tsx';
import { Link, navigate, parseRoute, paths, type Route, useLocation } from './router.tsx';
import { SessionProvider, useSession } from './session.tsx';
import { Avatar, Empty, notificationText, Spinner } from './ui.tsx';

export function App() {
  return (
    <SessionProvider>
      <Shell />
    </SessionProvider>
  );
}

const TITLES: Record<Route['name'], string> = {
  hallway: 'Hallway',
  signin: 'Sign in',
  signup: 'Sign up',
  room: 'Room',
  profile: 'Profile',
  clubs: 'Clubs',
  club: 'Club',
  events: 'Events',
  settings: 'Settings',
  notFound: 'Not found',
};

function Shell() {
  const { session } = useSession();
  const { pathname, search } = useLocation();
  const route = parseRoute(pathname);

  useEffect(() => {
    document.title = route.name === 'hallway' ? 'Sotto' : `${TITLES[route.name]} · Sotto`;
  }, [route.name]);

  // Signed-in people have no business on the auth pages.
  const onAuthPage = route.name === 'signin' || route.name === 'signup';
  useEffect(() => {
    if (session.status === 'signedIn' && onAuthPage) navigate(search.get('next') || '/', { replace: true });
  }, [session.status, onAuthPage, search]);

  if (session.status === 'loading') {
    return (
      <div className="splash">
        <Spinner label="Opening Sotto…" />
      </div>
    );
  }

  if (session.status === 'signedOut') {
    const next = onAuthPage ? search.get('next') || '/' : pathname + window.location.search;
    return <AuthPage mode={route.name === 'signup' ? 'signup' : 'signin'} next={next} />;
  }

  const me = session.me;
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <Link href="/" className="brand" aria-label="Sotto, hallway">
            <span className="brand-mark" aria-hidden="true" />
            Sotto
          </Link>
          <nav className="mainnav" aria-label="Main">
            <NavLink href={paths.hallway()} current={route.name === 'hallway'}>
              Hallway
            </NavLink>
            <NavLink href={paths.clubs()} current={route.name === 'clubs' || route.name === 'club'}>
              Clubs
            </NavLink>
            <NavLink href={paths.events()} current={route.name === 'events'}>
              Events
            </NavLink>
            <NavLink href={paths.settings()} current={route.name === 'settings'}>
              Settings
            </NavLink>
          </nav>
          <Link
            href={paths.profile(me.user.username)}
            className="me-link"
            aria-label={`Your profile, ${me.user.displayName}`}
          >
            <Avatar user={me.user} size="sm" />
          </Link>
        </div>
      </header>
      <main id="main" className={route.name === 'room' ? 'main main-room' : 'main'} tabIndex={-1}>
        <Page route={route} />
      </main>
      <Toasts />
    </div>
  );
}

function NavLink({ href, current, children }: { href: string; current: boolean; children: string }) {
  return (
    <Link href={href} className="navlink" aria-current={current ? 'page' : undefined}>
      {children}
    </Link>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case 'hallway':
    case 'signin':
    case 'signup':
      return <HallwayPage />;
    case 'room':
      return <RoomPage key={route.id} roomId={route.id} />;
    case 'profile':
      return <ProfilePage key={route.username} username={route.username} />;
    case 'clubs':
      return <ClubsPage />;
    case 'club':
      return <ClubPage key={route.id} clubId={route.id} />;
    case 'events':
      return <EventsPage />;
    case 'settings':
      return <SettingsPage />;
    default:
      return (
        <div className="page narrow">
          <Empty title="Nothing here">
            <p>
              This page does not exist. <Link href="/">Back to the hallway</Link>
            </p>
          </Empty>
        </div>
      );
  }
}

/** New notifications, announced politely; room pings carry a Join button. */
function Toasts() {
  const { incoming, dismissIncoming } = useSession();
  const { pathname } = useLocation();
  useEffect(() => {
    if (incoming.length === 0) return;
    const oldest = incoming[0];
    if (!oldest) return;
    const t = setTimeout(() => dismissIncoming(oldest.id), 15000);
    return () => clearTimeout(t);
  }, [incoming, dismissIncoming]);
  return (
    <section className="toasts" aria-live="polite" aria-label="Notifications">
      {incoming.map((n) => (
        <div className="toast" key={n.id}>
          {n.from && <Avatar user={n.from} size="sm" />}
          <p className="toast-text">{notificationText(n)}</p>
          {n.room && pathname !== paths.room(n.room.id) && (
            <button
              type="button"
              className="btn btn-small btn-primary"
              onClick={() => {
                dismissIncoming(n.id);
                if (n.room) navigate(paths.room(n.room.id));
              }}
            >
              Join
            </button>
          )}
          <button
            type="button"
            className="btn-icon"
            aria-label="Dismiss notification"
            onClick={() => dismissIncoming(n.id)}
          >
            ×
          </button>
        </div>
      ))}
    </section>
  );
}
