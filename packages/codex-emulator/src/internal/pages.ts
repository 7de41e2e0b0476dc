// The few HTML pages a person sees in the emulator: the interactive approval step of
// /oauth/authorize and the device-code page. Everything echoed is HTML-escaped.
import type { Account } from "../Domain.ts"
import type { PendingAuthorization } from "./issuer.ts"

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)

const page = (title: string, body: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.5rem}select,input{font-size:1rem;padding:.4rem}</style></head>
<body><p><small>Nexus Codex emulator — a local stand-in for auth.openai.com</small></p>
${body}
</body></html>`

const accountSelect = (accounts: ReadonlyArray<Account>, selected: string) =>
  `<label>Account <select name="account" id="account">${accounts
    .map(
      (a) =>
        `<option value="${escapeHtml(a.id)}"${a.id === selected ? " selected" : ""}>${escapeHtml(a.email)} (${escapeHtml(a.plan)})</option>`
    )
    .join("")}</select></label>`

export const approvalPage = (pending: PendingAuthorization, accounts: ReadonlyArray<Account>, selected: string) =>
  page(
    "Sign in to Codex",
    `<h1>Sign in to Codex with ChatGPT</h1>
<p>An application (client <code>${escapeHtml(pending.clientId)}</code>) asks for: <code>${escapeHtml(pending.scope)}</code></p>
<form method="post" action="/oauth/authorize/decision">
<input type="hidden" name="request_id" value="${escapeHtml(pending.id)}">
<p>${accountSelect(accounts, selected)}</p>
<p><button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button></p>
</form>`
  )

export const devicePage = (accounts: ReadonlyArray<Account>, selected: string, userCode = "", notice = "") =>
  page(
    "Device sign-in",
    `<h1>Enter the code shown in your terminal</h1>
${notice ? `<p role="status" id="notice">${escapeHtml(notice)}</p>` : ""}
<form method="post" action="/codex/device">
<p><label>Code <input name="user_code" id="user_code" value="${escapeHtml(userCode)}" autocomplete="off" placeholder="ABCD-EFGH"></label></p>
<p>${accountSelect(accounts, selected)}</p>
<p><button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button></p>
</form>`
  )

export const messagePage = (title: string, message: string) =>
  page(title, `<h1>${escapeHtml(title)}</h1><p id="message">${escapeHtml(message)}</p>`)
