import type { CreatedApiToken } from '@sotto/app/api';
import { type FormEvent, useState } from 'react';
import { navigate } from '../router.tsx';
import { api, useMe, useSession } from '../session.tsx';
import { CopyButton, Empty, ErrorNote, Spinner, timeAgo, useAction, useLoad } from '../ui.tsx';
import { UserList } from './profile.tsx';

export function SettingsPage() {
  return (
    <div className="page narrow settings">
      <header className="page-head">
        <h1>Settings</h1>
      </header>
      <ProfileSettings />
      <Invites />
      <WaitlistEntries />
      <Tokens />
      <Blocked />
      <SignOut />
    </div>
  );
}

function ProfileSettings() {
  const me = useMe();
  const { setMe } = useSession();
  const [displayName, setDisplayName] = useState(me.user.displayName);
  const [bio, setBio] = useState(me.bio);
  const [saved, setSaved] = useState(false);
  const { busy, error, run } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const next = await run(() => api.updateMe({ displayName: displayName.trim(), bio: bio.trim() }));
    if (next) {
      setMe(next);
      setSaved(true);
    }
  };
  return (
    <section className="card" aria-labelledby="profile-settings-h">
      <h2 id="profile-settings-h">Profile</h2>
      <form className="form" onSubmit={submit}>
        <p className="muted small">Username: @{me.user.username} (cannot be changed)</p>
        <label className="field">
          <span>Display name</span>
          <input
            value={displayName}
            onChange={(e) => setDisplayName(e.target.value)}
            required
            maxLength={64}
          />
        </label>
        <label className="field">
          <span>Bio</span>
          <textarea
            value={bio}
            onChange={(e) => setBio(e.target.value)}
            maxLength={280}
            rows={3}
            aria-describedby="bio-hint"
          />
        </label>
        <small id="bio-hint" className="hint hint-field">
          {280 - bio.length} characters left
        </small>
        <ErrorNote error={error} />
        <div aria-live="polite">{saved && <p className="note note-ok">Profile saved.</p>}</div>
        <button type="submit" className="btn btn-primary" disabled={busy}>
          Save profile
        </button>
      </form>
    </section>
  );
}

function inviteLink(code: string): string {
  return `${window.location.origin}/signup?invite=${encodeURIComponent(code)}`;
}

function Invites() {
  const { refreshMe } = useSession();
  const me = useMe();
  const invites = useLoad(() => api.invites(), []);
  const { busy, error, run } = useAction();
  return (
    <section className="card" aria-labelledby="invites-h">
      <h2 id="invites-h">Invite codes</h2>
      <p className="muted">
        You can create {me.invitesLeft} more {me.invitesLeft === 1 ? 'invite' : 'invites'}. Each code works
        once.
      </p>
      <ErrorNote error={invites.error ?? error} />
      {invites.data === undefined ? (
        invites.loading && <Spinner />
      ) : invites.data.length === 0 ? (
        <p className="muted small">No invite codes yet.</p>
      ) : (
        <ul className="plain-list code-list">
          {invites.data.map((inv) => (
            <li key={inv.code} className="code-row">
              <code className="code">{inv.code}</code>
              {inv.usedBy ? (
                <span className="muted small">Used by @{inv.usedBy.username}</span>
              ) : (
                <span className="btn-row">
                  <CopyButton text={inv.code} ariaLabel={`Copy invite code ${inv.code}`} />
                  <CopyButton
                    text={inviteLink(inv.code)}
                    label="Copy link"
                    ariaLabel={`Copy invite link for ${inv.code}`}
                  />
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      <button
        type="button"
        className="btn btn-secondary"
        disabled={busy || me.invitesLeft <= 0}
        onClick={async () => {
          const inv = await run(() => api.createInvite());
          if (inv) {
            invites.set((l) => [inv, ...(l ?? [])]);
            void refreshMe();
          }
        }}
      >
        Create invite code
      </button>
    </section>
  );
}

function WaitlistEntries() {
  const { refreshMe } = useSession();
  const me = useMe();
  const waitlist = useLoad(() => api.waitlist(), []);
  const [sent, setSent] = useState<Record<string, string>>({});
  const { busy, error, run } = useAction();
  const entries = waitlist.data ?? [];
  return (
    <section className="card" aria-labelledby="waitlist-h">
      <h2 id="waitlist-h">Waitlist</h2>
      <p className="muted">People who asked to join. Sending an invite uses one of yours.</p>
      <ErrorNote error={waitlist.error ?? error} />
      {waitlist.data === undefined ? (
        waitlist.loading && <Spinner />
      ) : entries.length === 0 ? (
        <p className="muted small">Nobody is waiting.</p>
      ) : (
        <ul className="plain-list user-list">
          {entries.map((w) => (
            <li key={w.id} className="user-row">
              <div className="user-row-name">
                <span>@{w.username}</span>
                {w.note && <span className="muted small">“{w.note}”</span>}
                <span className="muted small">{timeAgo(w.createdAt)}</span>
              </div>
              {sent[w.id] ? (
                <span className="btn-row">
                  <code className="code">{sent[w.id]}</code>
                  <CopyButton
                    text={inviteLink(sent[w.id] ?? '')}
                    label="Copy link"
                    ariaLabel={`Copy invite link for @${w.username}`}
                  />
                </span>
              ) : w.invited ? (
                <span className="pill pill-soft">Invited</span>
              ) : (
                <button
                  type="button"
                  className="btn btn-small btn-primary"
                  aria-label={`Send invite to @${w.username}`}
                  disabled={busy || me.invitesLeft <= 0}
                  onClick={async () => {
                    const inv = await run(() => api.inviteFromWaitlist(w.id));
                    if (inv) {
                      setSent((s) => ({ ...s, [w.id]: inv.code }));
                      waitlist.set((l) => l?.map((x) => (x.id === w.id ? { ...x, invited: true } : x)));
                      void refreshMe();
                    }
                  }}
                >
                  Send invite
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Tokens() {
  const tokens = useLoad(() => api.tokens(), []);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<CreatedApiToken | null>(null);
  const { busy, error, run } = useAction();
  return (
    <section className="card" aria-labelledby="tokens-h">
      <h2 id="tokens-h">API tokens</h2>
      <p className="muted">For bots and the command line. A token acts as you; keep it secret.</p>
      <ErrorNote error={tokens.error ?? error} />
      {created && (
        <div className="note note-ok token-once" role="status">
          <p>
            <strong>{created.name}</strong>: copy this token now. It won’t be shown again.
          </p>
          <code className="code code-block">{created.token}</code>
          <div className="btn-row">
            <CopyButton text={created.token} label="Copy token" />
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setCreated(null)}>
              I’ve saved it
            </button>
          </div>
        </div>
      )}
      {tokens.data && tokens.data.length > 0 && (
        <ul className="plain-list user-list">
          {tokens.data.map((t) => (
            <li key={t.id} className="user-row">
              <div className="user-row-name">
                <span>{t.name}</span>
                <span className="muted small">
                  Created {timeAgo(t.createdAt)} ·{' '}
                  {t.lastUsedAt ? `last used ${timeAgo(t.lastUsedAt)}` : 'never used'}
                </span>
              </div>
              <button
                type="button"
                className="btn btn-small btn-danger-ghost"
                aria-label={`Revoke token ${t.name}`}
                disabled={busy}
                onClick={() =>
                  void run(async () => {
                    await api.revokeToken(t.id);
                    tokens.set((l) => l?.filter((x) => x.id !== t.id));
                  })
                }
              >
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        className="form form-inline"
        onSubmit={async (e) => {
          e.preventDefault();
          const tok = await run(() => api.createToken({ name: name.trim() }));
          if (tok) {
            setCreated(tok);
            setName('');
            const { token: _secret, ...listed } = tok;
            tokens.set((l) => [...(l ?? []), listed]);
          }
        }}
      >
        <label className="field">
          <span>Token name</span>
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            maxLength={64}
            placeholder="e.g. my-bot"
          />
        </label>
        <button type="submit" className="btn btn-secondary" disabled={busy}>
          Create token
        </button>
      </form>
    </section>
  );
}

function Blocked() {
  const blocks = useLoad(() => api.blocks(), []);
  const { busy, error, run } = useAction();
  return (
    <section className="card" aria-labelledby="blocked-h">
      <h2 id="blocked-h">Blocked people</h2>
      <p className="muted">They can’t join rooms you moderate, and you won’t see their rooms.</p>
      <ErrorNote error={blocks.error ?? error} />
      {blocks.data === undefined ? (
        blocks.loading && <Spinner />
      ) : blocks.data.length === 0 ? (
        <Empty title="You haven’t blocked anyone" />
      ) : (
        <UserList
          users={blocks.data}
          action={(u) => (
            <button
              type="button"
              className="btn btn-small btn-ghost"
              aria-label={`Unblock ${u.displayName}`}
              disabled={busy}
              onClick={() =>
                void run(async () => {
                  await api.unblock(u.username);
                  blocks.set((l) => l?.filter((x) => x.id !== u.id));
                })
              }
            >
              Unblock
            </button>
          )}
        />
      )}
    </section>
  );
}

function SignOut() {
  const { setMe } = useSession();
  const { busy, error, run } = useAction();
  return (
    <section className="card" aria-labelledby="signout-h">
      <h2 id="signout-h">Session</h2>
      <ErrorNote error={error} />
      <button
        type="button"
        className="btn btn-secondary"
        disabled={busy}
        onClick={async () => {
          const ok = await run(async () => {
            await api.logout();
            return true;
          });
          if (ok) {
            setMe(null);
            navigate('/signin', { replace: true });
          }
        }}
      >
        Sign out
      </button>
    </section>
  );
}
