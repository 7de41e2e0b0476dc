// The tests run `nexus` as it ships: the bundle (`pnpm build`), rebuilt from the sources before
// every run so that a stale one is never what passes (and a start takes half the time it takes
// from the sources: the tests start it hundreds of times).
import { Bundles } from "@nexus/testing"

export default function setup() {
  Bundles.build(new URL("..", import.meta.url), "nexus")
}
