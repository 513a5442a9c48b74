/** The signed-in user (GET /api/me), the API client, and live notifications, shared by every page. */
import type { Me, Notification } from '@sotto/app/api';
import { ApiError, NotificationStream, SottoApi } from '@sotto/client';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';

export const api = new SottoApi();

type MeStatus = { status: 'loading' } | { status: 'signedOut' } | { status: 'signedIn'; me: Me };

interface SessionValue {
  session: MeStatus;
  setMe(me: Me | null): void;
  refreshMe(): Promise<void>;
  notifications: Notification[];
  /** Notifications that arrived while this page was open (for the toast area). */
  incoming: Notification[];
  dismissIncoming(id: string): void;
  markAllRead(): void;
}

const SessionContext = createContext<SessionValue | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<MeStatus>({ status: 'loading' });
  const [notifications, setNotifications] = useState<Notification[]>([]);
  const [incoming, setIncoming] = useState<Notification[]>([]);

  const refreshMe = useCallback(async () => {
    try {
      setSession({ status: 'signedIn', me: await api.me() });
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403))
        setSession({ status: 'signedOut' });
      else setSession({ status: 'signedOut' });
    }
  }, []);

  useEffect(() => {
    void refreshMe();
  }, [refreshMe]);

  const setMe = useCallback((me: Me | null) => {
    setSession(me ? { status: 'signedIn', me } : { status: 'signedOut' });
    if (!me) {
      setNotifications([]);
      setIncoming([]);
    }
  }, []);

  const userId = session.status === 'signedIn' ? session.me.user.id : null;
  useEffect(() => {
    if (!userId) return;
    let live = true;
    let stream: NotificationStream | null = null;
    const connect = () => {
      api.notifications().then(
        (list) => live && setNotifications(list),
        () => {},
      );
      stream = new NotificationStream({ api }).open();
      stream.on('notification', (n) => {
        setNotifications((prev) => [n, ...prev.filter((p) => p.id !== n.id)]);
        setIncoming((prev) => [...prev.filter((p) => p.id !== n.id), n].slice(-3));
      });
    };
    // A page kept in the back-forward cache keeps its open streams, and a browser allows six
    // connections per host: six navigations away, every request of the app would stall. So the
    // stream closes when the page is hidden and reopens if the page comes back from that cache.
    const hide = () => {
      stream?.close();
      stream = null;
    };
    const show = (e: PageTransitionEvent) => {
      if (e.persisted && !stream) connect();
    };
    connect();
    window.addEventListener('pagehide', hide);
    window.addEventListener('pageshow', show);
    return () => {
      live = false;
      window.removeEventListener('pagehide', hide);
      window.removeEventListener('pageshow', show);
      hide();
    };
  }, [userId]);

  const dismissIncoming = useCallback(
    (id: string) => setIncoming((prev) => prev.filter((n) => n.id !== id)),
    [],
  );
  const markAllRead = useCallback(() => {
    setNotifications((prev) => {
      if (!prev.some((n) => !n.read)) return prev;
      api.markNotificationsRead().catch(() => {});
      return prev.map((n) => ({ ...n, read: true }));
    });
  }, []);

  const value = useMemo(
    () => ({ session, setMe, refreshMe, notifications, incoming, dismissIncoming, markAllRead }),
    [session, setMe, refreshMe, notifications, incoming, dismissIncoming, markAllRead],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const v = useContext(SessionContext);
  if (!v) throw new Error('useSession outside SessionProvider');
  return v;
}

/** The signed-in user; only for pages rendered behind the sign-in gate. */
export function useMe(): Me {
  const { session } = useSession();
  if (session.status !== 'signedIn') throw new Error('useMe while signed out');
  return session.me;
}
