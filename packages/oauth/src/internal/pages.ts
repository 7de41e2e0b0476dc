// The pages the loopback callback server shows in the browser. Anything echoed is HTML-escaped.
const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)

const page = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;line-height:1.5}</style></head>
<body>${body}</body></html>`

export const successPage = () =>
  page(
    "Signed in to Nexus",
    `<h1 id="result">Signed in</h1><p>Nexus is signed in with your ChatGPT account. You can close this window and return to the terminal.</p>`
  )

export const errorPage = (message: string, detail?: string) =>
  page(
    "Sign-in failed",
    `<h1 id="result">Sign-in failed</h1><p>${escapeHtml(message)}</p>${detail ? `<p><small>${escapeHtml(detail)}</small></p>` : ""}`
  )
