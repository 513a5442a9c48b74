import type { Profile, UserSummary } from '@sotto/app/api';
import { type ContactDevice, contactDevices, e2eeSupported, trustContactDevice } from '@sotto/client';
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
      {!p.isMe && <SafetyNumbers user={p} />}
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

/**
 * Safety numbers: for each of this person's devices, 60 digits derived from both devices' keys —
 * the same on their screen (for you) only if the app server gave each of you the other's real
 * keys. Compare them in person or on a call. Trust on first use: a device whose keys changed
 * since this browser first saw them is flagged until you accept the new keys.
 */
function SafetyNumbers({ user }: { user: Profile }) {
  const devices = useLoad(
    () => (e2eeSupported() ? contactDevices(api, user) : Promise.resolve([] as ContactDevice[])),
    [user.id],
  );
  const action = useAction();
  const list = devices.data;
  return (
    <section className="card" aria-labelledby="safety-h">
      <h2 id="safety-h">Safety numbers</h2>
      {!list ? (
        devices.loading ? (
          <Spinner label="Computing safety numbers…" />
        ) : (
          <ErrorNote error={devices.error} />
        )
      ) : list.length === 0 ? (
        <p className="muted small">{user.displayName} has no encryption keys yet.</p>
      ) : (
        <ul className="safety-list">
          {list.map((d) => (
            <li key={d.deviceId} data-testid="safety-device">
              {d.tofu === 'changed' && (
                <p className="note note-warn" role="alert" data-testid="safety-changed">
                  This device’s keys changed since you first saw them. Compare the safety number with{' '}
                  {user.displayName} before you accept them.
                  <button
                    type="button"
                    className="btn btn-small btn-secondary"
                    disabled={action.busy}
                    onClick={() =>
                      void action.run(async () => {
                        await trustContactDevice(d.identity);
                        devices.set(list.map((x) => (x === d ? { ...x, tofu: 'same' } : x)));
                      })
                    }
                  >
                    Accept new keys
                  </button>
                </p>
              )}
              <p className="muted small">Device {d.deviceId}</p>
              <p className="mono safety-number" data-testid="safety-number">
                {d.safetyNumber}
              </p>
            </li>
          ))}
        </ul>
      )}
      <ErrorNote error={action.error} onDismiss={() => action.setError(null)} />
    </section>
  );
}
