import type { Club, ClubDetail } from '@sotto/app/api';
import { type FormEvent, useState } from 'react';
import { Link, navigate, paths } from '../router.tsx';
import { api, useMe } from '../session.tsx';
import { Avatar, Empty, ErrorNote, plural, Spinner, useAction, useLoad } from '../ui.tsx';

export function ClubsPage() {
  const clubs = useLoad(() => api.clubs(), []);
  const action = useAction();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const create = useAction();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const club = await create.run(() =>
      api.createClub({ name: name.trim(), description: description.trim() }),
    );
    if (club) navigate(paths.club(club.id));
  };
  const replace = (d: ClubDetail) =>
    clubs.set((list) => list?.map((c) => (c.id === d.id ? { ...c, ...stripMembers(d) } : c)));

  return (
    <div className="page two-col">
      <section aria-labelledby="clubs-h">
        <header className="page-head">
          <h1 id="clubs-h">Clubs</h1>
          <p className="muted">Groups that host rooms together.</p>
        </header>
        <ErrorNote error={clubs.error ?? action.error} />
        {clubs.data === undefined ? (
          clubs.loading && <Spinner />
        ) : clubs.data.length === 0 ? (
          <Empty title="No clubs yet">
            <p>Create the first one.</p>
          </Empty>
        ) : (
          <ul className="plain-list club-list">
            {clubs.data.map((c) => (
              <li key={c.id} className="card club-row">
                <div className="club-row-body">
                  <h2 className="club-row-name">
                    <Link href={paths.club(c.id)}>{c.name}</Link>
                  </h2>
                  {c.description && <p className="muted">{c.description}</p>}
                  <p className="muted small">
                    {plural(c.memberCount, 'member')}
                    {c.myRole === 'admin' && ' · you’re an admin'}
                  </p>
                </div>
                {c.myRole === null ? (
                  <button
                    type="button"
                    className="btn btn-small btn-primary"
                    aria-label={`Join ${c.name}`}
                    disabled={action.busy}
                    onClick={() => void action.run(async () => replace(await api.joinClub(c.id)))}
                  >
                    Join
                  </button>
                ) : (
                  <button
                    type="button"
                    className="btn btn-small btn-ghost"
                    aria-label={`Leave ${c.name}`}
                    disabled={action.busy}
                    onClick={() => void action.run(async () => replace(await api.leaveClub(c.id)))}
                  >
                    Leave
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
      <aside>
        <section className="card" aria-labelledby="new-club-h">
          <h2 id="new-club-h">Create a club</h2>
          <form className="form" onSubmit={submit}>
            <label className="field">
              <span>Club name</span>
              <input
                value={name}
                onChange={(e) => setName(e.target.value)}
                required
                minLength={2}
                maxLength={64}
              />
            </label>
            <label className="field">
              <span>Description</span>
              <textarea
                value={description}
                onChange={(e) => setDescription(e.target.value)}
                maxLength={500}
                rows={3}
              />
            </label>
            <ErrorNote error={create.error} />
            <button type="submit" className="btn btn-primary btn-block" disabled={create.busy}>
              Create club
            </button>
          </form>
        </section>
      </aside>
    </div>
  );
}

function stripMembers(d: ClubDetail): Club {
  const { members: _members, ...club } = d;
  return club;
}

export function ClubPage({ clubId }: { clubId: string }) {
  const me = useMe();
  const club = useLoad(() => api.club(clubId), [clubId]);
  const action = useAction();
  const [topic, setTopic] = useState('');
  const c = club.data;
  if (!c) {
    return <div className="page narrow">{club.loading ? <Spinner /> : <ErrorNote error={club.error} />}</div>;
  }
  const update = (fn: () => Promise<ClubDetail>) =>
    void action.run(async () => {
      club.set(await fn());
    });
  const admins = c.members.filter((m) => m.role === 'admin');
  const members = c.members.filter((m) => m.role === 'member');
  return (
    <div className="page two-col">
      <section aria-labelledby="club-h">
        <header className="page-head">
          <p className="small">
            <Link href={paths.clubs()}>← All clubs</Link>
          </p>
          <h1 id="club-h">{c.name}</h1>
          {c.description && <p className="bio">{c.description}</p>}
          <p className="muted">{plural(c.memberCount, 'member')}</p>
        </header>
        <ErrorNote error={action.error} onDismiss={() => action.setError(null)} />
        <div className="btn-row">
          {c.myRole === null ? (
            <button
              type="button"
              className="btn btn-primary"
              disabled={action.busy}
              onClick={() => update(() => api.joinClub(c.id))}
            >
              Join club
            </button>
          ) : (
            <button
              type="button"
              className="btn btn-secondary"
              disabled={action.busy}
              onClick={() => update(() => api.leaveClub(c.id))}
            >
              Leave club
            </button>
          )}
        </div>
        <section className="card" aria-labelledby="admins-h">
          <h2 id="admins-h">Admins</h2>
          <MemberList people={admins} />
        </section>
        <section className="card" aria-labelledby="members-h">
          <h2 id="members-h">Members</h2>
          {members.length === 0 ? (
            <p className="muted small">No other members yet.</p>
          ) : (
            <MemberList
              people={members}
              action={
                c.myRole === 'admin'
                  ? (m) => (
                      <button
                        type="button"
                        className="btn btn-small btn-ghost"
                        aria-label={`Make ${m.displayName} an admin`}
                        disabled={action.busy}
                        onClick={() => update(() => api.makeClubAdmin(c.id, m.username))}
                      >
                        Make admin
                      </button>
                    )
                  : undefined
              }
            />
          )}
        </section>
      </section>
      <aside>
        {c.myRole !== null && (
          <section className="card" aria-labelledby="club-room-h">
            <h2 id="club-room-h">Start a club room</h2>
            <form
              className="form"
              onSubmit={async (e) => {
                e.preventDefault();
                const room = await action.run(() => api.createRoom({ topic: topic.trim(), clubId: c.id }));
                if (room) navigate(paths.room(room.id));
              }}
            >
              <label className="field">
                <span>Room topic</span>
                <input value={topic} onChange={(e) => setTopic(e.target.value)} required maxLength={120} />
              </label>
              <button type="submit" className="btn btn-primary btn-block" disabled={action.busy}>
                Start a club room
              </button>
            </form>
            <p className="muted small">
              Signed in as @{me.user.username}; the room is listed under {c.name}.
            </p>
          </section>
        )}
      </aside>
    </div>
  );
}

function MemberList({
  people,
  action,
}: {
  people: ClubDetail['members'];
  action?: (m: ClubDetail['members'][number]) => React.ReactNode;
}) {
  return (
    <ul className="plain-list user-list">
      {people.map((m) => (
        <li key={m.id} className="user-row">
          <Avatar user={m} size="sm" />
          <Link href={paths.profile(m.username)} className="user-row-name">
            <span>{m.displayName}</span>
            <span className="muted small">@{m.username}</span>
          </Link>
          {m.role === 'admin' && <span className="pill pill-soft">Admin</span>}
          {action?.(m)}
        </li>
      ))}
    </ul>
  );
}
