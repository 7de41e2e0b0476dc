// The token table (design §5): one row per (provider, account_id), tokens encrypted, a version for
// compare-and-set, and a notification on every change so that every instance drops its cached copy.
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS nexus`
  // Versions come from one sequence: a sign-in deleted and made again never reuses a version that
  // some instance may still hold in its cache.
  yield* sql`CREATE SEQUENCE nexus.oauth_token_version`
  yield* sql`
    CREATE TABLE nexus.oauth_tokens (
      provider text NOT NULL DEFAULT 'chatgpt',
      account_id text NOT NULL,
      label text,
      access_token text NOT NULL,
      refresh_token text NOT NULL,
      id_token text,
      expires_at timestamptz NOT NULL,
      last_refresh timestamptz NOT NULL,
      plan_type text,
      email text,
      user_id text,
      scopes text[] NOT NULL DEFAULT '{}',
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'reauth_required', 'disabled')),
      status_reason text,
      source text NOT NULL DEFAULT 'login',
      version bigint NOT NULL DEFAULT nextval('nexus.oauth_token_version'),
      refreshed_by text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (provider, account_id)
    )`
  yield* sql`CREATE UNIQUE INDEX oauth_tokens_label ON nexus.oauth_tokens (provider, label) WHERE label IS NOT NULL`
  yield* sql`
    CREATE FUNCTION nexus.oauth_tokens_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        -- A fresh sequence value: newer than every version the deleted row ever had.
        PERFORM pg_notify('nexus_oauth_tokens', OLD.account_id || ':' || nextval('nexus.oauth_token_version'));
      ELSE
        PERFORM pg_notify('nexus_oauth_tokens', NEW.account_id || ':' || NEW.version);
      END IF;
      RETURN NULL;
    END $$`
  yield* sql`
    CREATE TRIGGER oauth_tokens_notify AFTER INSERT OR UPDATE OR DELETE ON nexus.oauth_tokens
    FOR EACH ROW EXECUTE FUNCTION nexus.oauth_tokens_notify()`
})
