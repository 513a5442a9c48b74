import type { Club, HandRaisePolicy, RoomCard, RoomType } from '@sotto/app/api';
import { type FormEvent, useEffect, useState } from 'react';
import { Link, navigate, paths } from '../router.tsx';
import { api, useMe, useSession } from '../session.tsx';
import {
  Avatar,
  ClubSelect,
  Empty,
  ErrorNote,
  formatWhen,
  notificationText,
  plural,
  Spinner,
  StrokeIcon,
  timeAgo,
  useAction,
  useLoad,
} from '../ui.tsx';

const REFRESH_MS = 15000;

export function HallwayPage() {
  const me = useMe();
  const hallway = useLoad(() => api.hallway(), []);
  const clubs = useLoad(() => api.clubs(), []);
  const events = useLoad(() => api.events(), []);
  const { reload } = hallway;

  useEffect(() => {
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') void reload();
    }, REFRESH_MS);
    const onVisible = () => document.visibilityState === 'visible' && void reload();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(t);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [reload]);

  const upcoming = (events.data ?? [])
    .filter((e) => !e.roomId && e.startsAt > Date.now() - 3600_000)
    .sort((a, b) => a.startsAt - b.startsAt)
    .slice(0, 3);
  const myClubs = (clubs.data ?? []).filter((c) => c.myRole !== null);

  return (
    <div className="page hallway">
      <div className="hallway-main">
        <header className="page-head">
          <h1>Hallway</h1>
          <p className="muted">
            {greeting()}, {me.user.displayName.split(' ')[0]}. Here’s who’s talking now.
          </p>
        </header>
        <section aria-labelledby="live-h" className="section">
          <div className="section-head">
            <h2 id="live-h">Live now</h2>
            <button
              type="button"
              className="btn btn-small btn-ghost"
              onClick={() => void reload()}
              disabled={hallway.loading}
            >
              Refresh
            </button>
          </div>
          <ErrorNote error={hallway.error} />
          {hallway.data === undefined ? (
            hallway.loading && <Spinner label="Finding live rooms…" />
          ) : hallway.data.length === 0 ? (
            <Empty title="It’s quiet right now">
              <p>Start a room and ping a few friends — conversations grow from two people.</p>
            </Empty>
          ) : (
            <ul className="room-cards">
              {hallway.data.map((room) => (
                <li key={room.id}>
                  <RoomCardView room={room} />
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      <aside className="hallway-side">
        <StartRoom clubs={myClubs} />
        <Notifications />
        {upcoming.length > 0 && (
          <section className="card" aria-labelledby="upcoming-h">
            <div className="section-head">
              <h2 id="upcoming-h">Upcoming</h2>
              <Link href={paths.events()} className="small">
                All events
              </Link>
            </div>
            <ul className="plain-list">
              {upcoming.map((e) => (
                <li key={e.id} className="upcoming">
                  <span className="upcoming-when">{formatWhen(e.startsAt)}</span>
                  <span className="upcoming-title">{e.title}</span>
                  {e.club && <span className="muted small">{e.club.name}</span>}
                </li>
              ))}
            </ul>
          </section>
        )}
      </aside>
    </div>
  );
}

function greeting(): string {
  const h = new Date().getHours();
  if (h < 5) return 'Up late';
  if (h < 12) return 'Good morning';
  if (h < 18) return 'Good afternoon';
  return 'Good evening';
}

const TYPE_LABEL: Record<RoomType, string> = { open: 'Open', social: 'Social', closed: 'Closed' };

function RoomCardView({ room }: { room: RoomCard }) {
  const shown = room.speakers.slice(0, 4);
  const more = room.speakerCount - shown.length;
  return (
    <article className="room-card">
      {(room.club || room.type !== 'open') && (
        <div className="room-card-meta">
          {room.club ? <span className="club-name">{room.club.name}</span> : <span />}
          {room.type !== 'open' && <span className="pill">{TYPE_LABEL[room.type]}</span>}
        </div>
      )}
      <h3 className="room-card-topic">
        <Link href={paths.room(room.id)} className="stretched">
          {room.topic}
        </Link>
      </h3>
      <div className="room-card-people">
        <div className="avatar-stack" aria-hidden="true">
          {room.speakers.slice(0, 3).map((s) => (
            <Avatar key={s.id} user={s} size="md" />
          ))}
        </div>
        <ul className="speaker-names" aria-label="Speakers">
          {shown.map((s) => (
            <li key={s.id}>
              {s.displayName}
              <BubbleIcon />
            </li>
          ))}
          {more > 0 && <li className="muted">and {plural(more, 'more speaker')}</li>}
        </ul>
      </div>
      <p className="room-card-counts">
        <span>{plural(room.listenerCount, 'listener')}</span>
        <span aria-hidden="true"> · </span>
        <span>{plural(room.speakerCount, 'speaker')}</span>
        <span aria-hidden="true"> · </span>
        <span>started {timeAgo(room.createdAt)}</span>
      </p>
    </article>
  );
}

function StartRoom({ clubs }: { clubs: Club[] }) {
  const [topic, setTopic] = useState('');
  const [type, setType] = useState<RoomType>('open');
  const [invite, setInvite] = useState('');
  const [handRaise, setHandRaise] = useState<HandRaisePolicy>('everyone');
  const [clubId, setClubId] = useState('');
  /** null: the server's default (on for closed rooms). */
  const [hardened, setHardened] = useState<boolean | null>(null);
  const { busy, error, run } = useAction();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const usernames = invite
      .split(/[\s,]+/)
      .map((u) => u.replace(/^@/, '').toLowerCase())
      .filter(Boolean);
    const room = await run(() =>
      api.createRoom({
        topic: topic.trim(),
        type,
        handRaise,
        invite: type === 'closed' ? usernames : [],
        ...(clubId ? { clubId } : {}),
        ...(hardened === null ? {} : { hardened }),
      }),
    );
    if (room) navigate(paths.room(room.id));
  };

  return (
    <section className="card start-room" aria-labelledby="start-h">
      <h2 id="start-h">Start a conversation</h2>
      <form className="form" onSubmit={submit}>
        <label className="field">
          <span>Topic</span>
          <input
            value={topic}
            onChange={(e) => setTopic(e.target.value)}
            required
            maxLength={120}
            placeholder="What do you want to talk about?"
          />
        </label>
        <fieldset className="fieldset">
          <legend>Room type</legend>
          <div className="segmented">
            {(['open', 'social', 'closed'] as const).map((t) => (
              <label key={t} className="segment">
                <input
                  type="radio"
                  name="room-type"
                  value={t}
                  checked={type === t}
                  onChange={() => setType(t)}
                />
                <span>{TYPE_LABEL[t]}</span>
              </label>
            ))}
          </div>
        </fieldset>
        <p className="hint" aria-live="polite">
          {type === 'open' && 'Anyone on Sotto can find and join.'}
          {type === 'social' && 'Shown to people followed by the speakers.'}
          {type === 'closed' && 'Only the people you invite can join.'}
        </p>
        {type === 'closed' && (
          <label className="field">
            <span>Invite (usernames)</span>
            <input
              value={invite}
              onChange={(e) => setInvite(e.target.value)}
              placeholder="ada, grace"
              autoCapitalize="none"
              spellCheck={false}
            />
          </label>
        )}
        <div className="form-row">
          <label className="field">
            <span>Who can raise a hand</span>
            <select value={handRaise} onChange={(e) => setHandRaise(e.target.value as HandRaisePolicy)}>
              <option value="everyone">Everyone</option>
              <option value="followed">People followed by speakers</option>
              <option value="off">Nobody (hands off)</option>
            </select>
          </label>
          <ClubSelect clubs={clubs} value={clubId} onChange={setClubId} />
        </div>
        <label className="check">
          <input
            type="checkbox"
            checked={hardened ?? type === 'closed'}
            onChange={(e) => setHardened(e.target.checked)}
            aria-describedby="hardened-hint"
          />
          <span>Hide when people talk</span>
        </label>
        <small id="hardened-hint" className="hint hint-field">
          Constant-bitrate audio without level headers: even the traffic pattern reveals nothing.
        </small>
        <ErrorNote error={error} />
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? 'Starting…' : 'Start a room'}
        </button>
      </form>
    </section>
  );
}

function Notifications() {
  const { notifications, markAllRead } = useSession();
  const recent = notifications.slice(0, 6);
  const unread = notifications.filter((n) => !n.read).length;
  if (recent.length === 0) return null;
  return (
    <section className="card" aria-labelledby="notif-h">
      <div className="section-head">
        <h2 id="notif-h">Notifications {unread > 0 && <span className="count-badge">{unread} new</span>}</h2>
        {unread > 0 && (
          <button type="button" className="btn btn-small btn-ghost" onClick={markAllRead}>
            Mark all read
          </button>
        )}
      </div>
      <ul className="plain-list notif-list">
        {recent.map((n) => (
          <li key={n.id} className={n.read ? 'notif' : 'notif notif-unread'}>
            {n.from ? (
              <Avatar user={n.from} size="sm" />
            ) : (
              <span className="avatar avatar-sm" aria-hidden="true" />
            )}
            <div className="notif-body">
              <p>{notificationText(n)}</p>
              <p className="muted small">{timeAgo(n.createdAt)}</p>
            </div>
            {n.room && (
              <button
                type="button"
                className="btn btn-small btn-primary"
                onClick={() => n.room && navigate(paths.room(n.room.id))}
                aria-label={`Join ${n.room.topic}`}
              >
                Join
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

const BubbleIcon = () => <StrokeIcon className="bubble" size={14} d="M4 5h16v11H9l-5 4z" />;
