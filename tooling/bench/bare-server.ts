// The baseline for the emulator benchmark: a bare node:http server that answers every request
// with the bytes of a recorded emulator reply, written event by event as the emulator writes them.
import { createServer } from "node:http"
import { readFileSync } from "node:fs"

const recorded = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as {
  headers: Record<string, string>
  events: Array<string>
}
const chunks = recorded.events.map((event) => Buffer.from(event))
const server = createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    response.writeHead(200, recorded.headers)
    for (const chunk of chunks) response.write(chunk)
    response.end()
  })
})
server.keepAliveTimeout = 5_000
server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  if (address && typeof address === "object") console.log(JSON.stringify({ url: `http://127.0.0.1:${address.port}` }))
})
process.on("SIGTERM", () => server.close(() => process.exit(0)))
