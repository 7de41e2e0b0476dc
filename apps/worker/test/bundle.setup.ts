// The tests run `nexus-worker` as it ships: the bundle (`pnpm build`), rebuilt from the sources
// before every run so that a stale one is never what passes.
import { Bundles } from "@nexus/testing"

export default function setup() {
  Bundles.build(new URL("..", import.meta.url), "nexus-worker")
}
