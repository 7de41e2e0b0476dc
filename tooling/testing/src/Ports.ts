/**
 * Free loopback ports for tests that must name a port before they listen on it (a registered
 * redirect URI, say).
 *
 * @since 0.1.0
 */
import { createServer } from "node:net"

/**
 * A port nobody listened on a moment ago, on 127.0.0.1.
 *
 * @since 0.1.0
 * @category constructors
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
