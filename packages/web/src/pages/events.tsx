import type { Club, Event } from '@sotto/app/api';
import { type FormEvent, useState } from 'react';
import { Link, navigate, paths } from '../router.tsx';
import { api, useMe } from '../session.tsx';
import { Avatar, ClubSelect, Empty, ErrorNote, formatWhen, Spinner, useAction, useLoad } from '../ui.tsx';

/** datetime-local value (local time) ↔ epoch ms. */
function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function fromLocalInput(v: string): number {
  return new Date(v).getTime();
}

export function EventsPage() {
  const me = useMe();
  const events = useLoad(() => api.events(), []);
  const clubs = useLoad(() => api.clubs(), []);
  const [editing, setEditing] = useState<string | null>(null);
  const action = useAction();
  const myClubs = (clubs.data ?? []).filter((c) => c.myRole !== null);
  const adminOf = new Set((clubs.data ?? []).filter((c) => c.myRole === 'admin').map((c) => c.id));
  const canEdit = (e: Event) => e.host.id === me.user.id || (e.club !== null && adminOf.has(e.club.id));
  const list = [...(events.data ?? [])].sort((a, b) => a.startsAt - b.startsAt);
  const replace = (e: Event) => events.set((l) => l?.map((x) => (x.id === e.id ? e : x)));

  return (
    <div className="page two-col">
      <section aria-labelledby="events-h">
        <header className="page-head">
          <h1 id="events-h">Events</h1>
          <p className="muted">Scheduled conversations. Hosts open the room when it’s time.</p>
        </header>
        <ErrorNote error={events.error ?? action.error} onDismiss={() => action.setError(null)} />
        {events.data === undefined ? (
          events.loading && <Spinner />
        ) : list.length === 0 ? (
          <Empty title="Nothing scheduled">
            <p>Plan a conversation and let people know when to show up.</p>
          </Empty>
        ) : (
          <ul className="plain-list event-list">
            {list.map((e) => (
              <li key={e.id} className="card event">
                {editing === e.id ? (
                  <EventForm
                    clubs={myClubs}
                    initial={e}
                    submitLabel="Save event"
                    onCancel={() => setEditing(null)}
                    onSubmit={async (body) => {
                      const updated = await api.updateEvent(e.id, body);
                      replace(updated);
                      setEditing(null);
                    }}
                  />
                ) : (
                  <>
                    <p className="event-when">{formatWhen(e.startsAt)}</p>
                    <h2 className="event-title">{e.title}</h2>
                    {e.club && (
                      <p className="club-name">
                        <Link href={paths.club(e.club.id)}>{e.club.name}</Link>
                      </p>
                    )}
                    {e.description && <p className="bio">{e.description}</p>}
                    <p className="event-host">
                      <Avatar user={e.host} size="xs" />
                      <span className="muted small">
                        Hosted by <Link href={paths.profile(e.host.username)}>{e.host.displayName}</Link>
                      </span>
                    </p>
                    <div className="btn-row">
                      {e.roomId ? (
                        <Link href={paths.room(e.roomId)} className="btn btn-small btn-primary">
                          Join the room
                        </Link>
                      ) : (
                        e.host.id === me.user.id && (
                          <button
                            type="button"
                            className="btn btn-small btn-primary"
                            disabled={action.busy}
                            onClick={async () => {
                              const room = await action.run(() => api.startEvent(e.id));
                              if (room) navigate(paths.room(room.id));
                            }}
                          >
                            Start the room
                          </button>
                        )
                      )}
                      {canEdit(e) && (
                        <>
                          <button
                            type="button"
                            className="btn btn-small btn-ghost"
                            aria-label={`Edit ${e.title}`}
                            onClick={() => setEditing(e.id)}
                          >
                            Edit
                          </button>
                          <button
                            type="button"
                            className="btn btn-small btn-danger-ghost"
                            aria-label={`Delete ${e.title}`}
                            disabled={action.busy}
                            onClick={() =>
                              void action.run(async () => {
                                await api.deleteEvent(e.id);
                                events.set((l) => l?.filter((x) => x.id !== e.id));
                              })
                            }
                          >
                            Delete
                          </button>
                        </>
                      )}
                    </div>
                  </>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
      <aside>
        <section className="card" aria-labelledby="new-event-h">
          <h2 id="new-event-h">Schedule an event</h2>
          <EventForm
            clubs={myClubs}
            submitLabel="Create event"
            onSubmit={async (body) => {
              const created = await api.createEvent(body);
              events.set((l) => [...(l ?? []), created]);
            }}
          />
        </section>
      </aside>
    </div>
  );
}

interface EventBody {
  title: string;
  description: string;
  startsAt: number;
  clubId?: string;
}

function EventForm({
  clubs,
  initial,
  submitLabel,
  onSubmit,
  onCancel,
}: {
  clubs: Club[];
  initial?: Event;
  submitLabel: string;
  onSubmit: (body: EventBody) => Promise<void>;
  onCancel?: () => void;
}) {
  const [title, setTitle] = useState(initial?.title ?? '');
  const [description, setDescription] = useState(initial?.description ?? '');
  const [startsAt, setStartsAt] = useState(
    toLocalInput(initial?.startsAt ?? Math.ceil((Date.now() + 3600_000) / 900_000) * 900_000),
  );
  const [clubId, setClubId] = useState(initial?.club?.id ?? '');
  const { busy, error, run } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const ok = await run(async () => {
      await onSubmit({
        title: title.trim(),
        description: description.trim(),
        startsAt: fromLocalInput(startsAt),
        ...(clubId ? { clubId } : {}),
      });
      return true;
    });
    if (ok && !initial) {
      setTitle('');
      setDescription('');
    }
  };
  return (
    <form className="form" onSubmit={submit}>
      <label className="field">
        <span>Title</span>
        <input
          value={title}
          onChange={(e) => setTitle(e.target.value)}
          required
          minLength={2}
          maxLength={120}
        />
      </label>
      <label className="field">
        <span>Starts at</span>
        <input
          type="datetime-local"
          value={startsAt}
          onChange={(e) => setStartsAt(e.target.value)}
          required
        />
      </label>
      <ClubSelect clubs={clubs} value={clubId} onChange={setClubId} />
      <label className="field">
        <span>Description</span>
        <textarea
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          maxLength={1000}
          rows={3}
        />
      </label>
      <ErrorNote error={error} />
      <div className="btn-row">
        {onCancel && (
          <button type="button" className="btn btn-ghost" onClick={onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}
