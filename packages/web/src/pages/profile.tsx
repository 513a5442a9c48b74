import type { Profile, UserSummary } from '@sotto/app/api';
import { useState } from 'react';
import { ReportDialog } from '../report.tsx';
import { Link, paths } from '../router.tsx';
import { api } from '../session.tsx';
import { Avatar, Empty, ErrorNote, Spinner, useAction, useLoad } from '../ui.tsx';

export function ProfilePage({ username }: { username: string }) {
  const profile = useLoad(() => api.user(username), [username]);
  const [list, setList] = useState<'followers' | 'following' | null>(null);
  const [reporting, setReporting] = useState(false);
  const action = useAction();
  const p = profile.data;

  if (!p) {
    return (
      <div className="page narrow">{profile.loading ? <Spinner /> : <ErrorNote error={profile.error} />}</div>
    );
  }
  const update = (fn: () => Promise<Profile>) =>
    void action.run(async () => {
      profile.set(await fn());
    });

  return (
    <div className="page narrow">
      <section className="card profile" aria-labelledby="profile-h">
        <Avatar user={p} size="xl" />
        <h1 id="profile-h">{p.displayName}</h1>
        <p className="muted">
          @{p.username}
          {p.followsMe && !p.isMe && <span className="pill pill-soft">Follows you</span>}
        </p>
        {p.bio ? <p className="bio">{p.bio}</p> : p.isMe && <p className="muted small">No bio yet.</p>}
        <div className="counts">
          <button
            type="button"
            className="count-btn"
            aria-expanded={list === 'followers'}
            onClick={() => setList(list === 'followers' ? null : 'followers')}
          >
            <strong>{p.followers.toLocaleString()}</strong> followers
          </button>
          <button
            type="button"
            className="count-btn"
            aria-expanded={list === 'following'}
            onClick={() => setList(list === 'following' ? null : 'following')}
          >
            <strong>{p.following.toLocaleString()}</strong> following
          </button>
        </div>
        <p className="muted small">
          Joined {new Date(p.createdAt).toLocaleDateString(undefined, { month: 'long', year: 'numeric' })}
        </p>
        <ErrorNote error={action.error} onDismiss={() => action.setError(null)} />
        {p.isMe ? (
          <Link href={paths.settings()} className="btn btn-secondary">
            Edit profile
          </Link>
        ) : (
          <div className="btn-row center">
            {!p.isBlocked &&
              (p.isFollowing ? (
                <button
                  type="button"
                  className="btn btn-secondary"
                  disabled={action.busy}
                  onClick={() => update(() => api.unfollow(p.username))}
                >
                  Unfollow
                </button>
              ) : (
                <button
                  type="button"
                  className="btn btn-primary"
                  disabled={action.busy}
                  onClick={() => update(() => api.follow(p.username))}
                >
                  Follow
                </button>
              ))}
            {p.isBlocked ? (
              <button
                type="button"
                className="btn btn-secondary"
                disabled={action.busy}
                onClick={() => update(() => api.unblock(p.username))}
              >
                Unblock
              </button>
            ) : (
              <button
                type="button"
                className="btn btn-ghost"
                disabled={action.busy}
                onClick={() => update(() => api.block(p.username))}
              >
                Block
              </button>
            )}
            <button type="button" className="btn btn-ghost" onClick={() => setReporting(true)}>
              Report user
            </button>
          </div>
        )}
      </section>
      {list && (
        <PeopleList key={`${list}-${p.followers}-${p.following}`} username={p.username} which={list} />
      )}
      <ReportDialog
        target={reporting ? { type: 'user', username: p.username } : null}
        subject={p.displayName}
        onClose={() => setReporting(false)}
      />
    </div>
  );
}

function PeopleList({ username, which }: { username: string; which: 'followers' | 'following' }) {
  const people = useLoad(
    () => (which === 'followers' ? api.followers(username) : api.following(username)),
    [username, which],
  );
  return (
    <section className="card" aria-labelledby="people-h">
      <h2 id="people-h">{which === 'followers' ? 'Followers' : 'Following'}</h2>
      <ErrorNote error={people.error} />
      {people.data === undefined ? (
        people.loading && <Spinner />
      ) : people.data.length === 0 ? (
        <Empty title={which === 'followers' ? 'No followers yet' : 'Not following anyone yet'} />
      ) : (
        <UserList users={people.data} />
      )}
    </section>
  );
}

export function UserList({
  users,
  action,
}: {
  users: UserSummary[];
  action?: (u: UserSummary) => React.ReactNode;
}) {
  return (
    <ul className="plain-list user-list">
      {users.map((u) => (
        <li key={u.id} className="user-row">
          <Avatar user={u} size="sm" />
          <Link href={paths.profile(u.username)} className="user-row-name">
            <span>{u.displayName}</span>
            <span className="muted small">@{u.username}</span>
          </Link>
          {action?.(u)}
        </li>
      ))}
    </ul>
  );
}
