import type { ReportRequest } from '@sotto/app/api';
import { useState } from 'react';
import { api } from './session.tsx';
import { Dialog, ErrorNote, useAction } from './ui.tsx';

type Reason = ReportRequest['reason'];
const REASONS: { value: Reason; label: string }[] = [
  { value: 'harassment', label: 'Harassment or bullying' },
  { value: 'hate', label: 'Hate speech' },
  { value: 'spam', label: 'Spam or scam' },
  { value: 'impersonation', label: 'Impersonation' },
  { value: 'self_harm', label: 'Self-harm or suicide' },
  { value: 'other', label: 'Something else' },
];

export type ReportTarget = ReportRequest['target'];

/** Report a user or a room. Reports are kept for a limited time, then purged. */
export function ReportDialog({
  target,
  subject,
  onClose,
}: {
  target: ReportTarget | null;
  subject: string;
  onClose: () => void;
}) {
  const [reason, setReason] = useState<Reason>('harassment');
  const [text, setText] = useState('');
  const [sent, setSent] = useState(false);
  const { busy, error, run } = useAction();
  const close = () => {
    setSent(false);
    setText('');
    onClose();
  };
  return (
    <Dialog open={target !== null} onClose={close} title={`Report ${subject}`}>
      {sent ? (
        <div className="stack">
          <p className="note note-ok" role="status">
            Thanks. The moderators of this server will review your report.
          </p>
          <button type="button" className="btn btn-primary" onClick={close}>
            Done
          </button>
        </div>
      ) : (
        <form
          className="form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (!target) return;
            const ok = await run(async () => {
              await api.report({ target, reason, text: text.trim() });
              return true;
            });
            if (ok) setSent(true);
          }}
        >
          <label className="field">
            <span>Reason</span>
            <select value={reason} onChange={(e) => setReason(e.target.value as Reason)}>
              {REASONS.map((r) => (
                <option key={r.value} value={r.value}>
                  {r.label}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>What happened? (optional)</span>
            <textarea value={text} onChange={(e) => setText(e.target.value)} maxLength={2000} rows={4} />
          </label>
          <ErrorNote error={error} />
          <div className="btn-row">
            <button type="button" className="btn btn-ghost" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="btn btn-danger" disabled={busy}>
              Send report
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
