// Human-readable times for the status output.

const span = (ms: number): string => {
  const seconds = Math.round(ms / 1000)
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`
  return `${Math.floor(hours / 24)} days`
}

/** "in 54 min" or "expired 3 min ago". */
export const expiresIn = (at: number, now: number): string =>
  at >= now ? `in ${span(at - now)}` : `expired ${span(now - at)} ago`

/** "3 min ago" (or "in 2 min" for a clock that runs behind). */
export const ago = (at: number, now: number): string => (at <= now ? `${span(now - at)} ago` : `in ${span(at - now)}`)

/** The first line of a message, trimmed: what a person reads of an error. */
export const firstLine = (text: string): string => text.split("\n")[0]!.trim()
