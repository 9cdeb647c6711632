// The authorization server's HTML pages: login, patient picker, consent, app management and
// errors. Plain server-rendered forms (no scripts, no cookies: the pending authorization is
// identified by a one-time id in the form), every value HTML-escaped.

export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Flint</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1d2733}
h1{font-size:1.4rem}label{display:block;margin:.5rem 0}input[type=text],input[type=password]{width:100%;padding:.4rem;font-size:1rem}
button{padding:.5rem 1.2rem;font-size:1rem;margin-right:.5rem}.scopes label{font-family:ui-monospace,monospace;font-size:.9rem}
.sub{margin-left:1.5rem}.error{color:#a8071a}.muted{color:#5c6b7a;font-size:.9rem}
</style></head><body><h1>${esc(title)}</h1>${body}</body></html>`;
}

export function errorPage(message: string): string {
  return page('Authorization failed', `<p class="error">${esc(message)}</p><p class="muted">The application that sent you here is misconfigured; you may close this page.</p>`);
}

export function loginPage(opts: { tx: string; clientName: string; error?: string; action: string }): string {
  return page('Sign in', `
<p><strong>${esc(opts.clientName)}</strong> wants to access health records on this server.</p>
${opts.error ? `<p class="error">${esc(opts.error)}</p>` : ''}
<form method="post" action="${esc(opts.action)}">
<input type="hidden" name="tx" value="${esc(opts.tx)}">
<label>Username <input type="text" name="username" autocomplete="username" required></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`);
}

export function pickerPage(opts: { tx: string; patients: { id: string; name: string; birthDate?: string }[]; query: string; action: string; searchAction: string }): string {
  const rows = opts.patients.map((p) => `<label><input type="radio" name="patient" value="${esc(p.id)}" required> ${esc(p.name)}${p.birthDate ? ` <span class="muted">(born ${esc(p.birthDate)})</span>` : ''}</label>`).join('\n');
  return page('Choose a patient', `
<form method="get" action="${esc(opts.searchAction)}"><input type="hidden" name="tx" value="${esc(opts.tx)}">
<label>Search by name <input type="text" name="q" value="${esc(opts.query)}"></label><button type="submit">Search</button></form>
<form method="post" action="${esc(opts.action)}"><input type="hidden" name="tx" value="${esc(opts.tx)}">
${rows || '<p class="muted">No patient matches.</p>'}
<button type="submit">Continue</button></form>`);
}

export interface ConsentChoice {
  scope: string;
  label: string;
  /** Narrower alternatives offered instead (category sub-scopes). */
  alternatives?: { scope: string; label: string }[];
}

export function consentPage(opts: { tx: string; clientName: string; user: string; patient?: string; choices: ConsentChoice[]; offline: boolean; action: string }): string {
  const items = opts.choices.map((c) => {
    const alts = (c.alternatives ?? []).map((a) => `<label class="sub"><input type="checkbox" name="granular" value="${esc(a.scope)}"> ${esc(a.label)}</label>`).join('');
    return `<label><input type="checkbox" name="scope" value="${esc(c.scope)}" checked> ${esc(c.label)}</label>${alts ? `<div class="muted sub">or only:</div>${alts}` : ''}`;
  }).join('\n');
  return page('Allow access?', `
<p><strong>${esc(opts.clientName)}</strong> asks, for <strong>${esc(opts.user)}</strong>${opts.patient ? ` and patient <strong>${esc(opts.patient)}</strong>` : ''}:</p>
<form method="post" action="${esc(opts.action)}"><input type="hidden" name="tx" value="${esc(opts.tx)}">
<div class="scopes">${items}</div>
${opts.offline ? '<label><input type="checkbox" name="offline_access" value="1" checked> Keep access while I am away (offline_access)</label>' : ''}
<p class="muted">Untick what you do not want to share. For a record type you may choose categories instead of everything.</p>
<button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="deny">Deny</button>
</form>`);
}

export function managePage(opts: { session?: string; grants: { grantId: string; client: string; scope: string; created: string }[]; error?: string; action: string; revokeAction: string }): string {
  if (!opts.session) {
    return page('Your connected apps', `${opts.error ? `<p class="error">${esc(opts.error)}</p>` : ''}
<form method="post" action="${esc(opts.action)}">
<label>Username <input type="text" name="username" required></label>
<label>Password <input type="password" name="password" required></label>
<button type="submit">Sign in</button></form>`);
  }
  const rows = opts.grants.map((g) => `<form method="post" action="${esc(opts.revokeAction)}"><input type="hidden" name="session" value="${esc(opts.session)}">
<input type="hidden" name="grant" value="${esc(g.grantId)}"><p><strong>${esc(g.client)}</strong> <span class="muted">since ${esc(g.created)}</span><br>
<code>${esc(g.scope)}</code><br><button type="submit">Revoke access</button></p></form>`).join('\n');
  return page('Your connected apps', rows || '<p class="muted">No application has access.</p>');
}
