#include "deploy/guard.h"

#include <algorithm>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace strata::deploy {
namespace {

// The guard's tables. Only the owner (the installing superuser) may touch
// them; the event triggers read them through SECURITY DEFINER functions.
constexpr char kTables[] = R"sql(
CREATE SCHEMA IF NOT EXISTS strata_guard;
REVOKE ALL ON SCHEMA strata_guard FROM PUBLIC;
CREATE TABLE IF NOT EXISTS strata_guard.managed (object text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS strata_guard.checkouts (
  object text PRIMARY KEY,
  db_role text NOT NULL,
  holder text NOT NULL,
  site text NOT NULL,
  since timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS strata_guard.sync (
  id int PRIMARY KEY CHECK (id = 1),
  synced_at timestamptz NOT NULL
);
REVOKE ALL ON ALL TABLES IN SCHEMA strata_guard FROM PUBLIC;
)sql";

// Strata ids of what a catalog row belongs to, the object itself first and
// then what contains it (an index's table, a trigger's table, ...): the first
// managed one decides.
constexpr char kIdsOf[] = R"sql(
CREATE OR REPLACE FUNCTION strata_guard.ids_of(cls oid, obj oid) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $guard$
DECLARE
  r record;
  owner oid;
BEGIN
  IF cls = 'pg_class'::regclass THEN
    SELECT c.relkind, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name INTO r
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = obj;
    IF NOT FOUND OR r.relkind = 't' THEN RETURN '{}'; END IF;
    IF r.relkind IN ('r', 'p', 'f') THEN RETURN ARRAY['table:' || r.name]; END IF;
    IF r.relkind = 'v' THEN RETURN ARRAY['view:' || r.name]; END IF;
    IF r.relkind = 'm' THEN RETURN ARRAY['materialized_view:' || r.name]; END IF;
    IF r.relkind = 'c' THEN RETURN ARRAY['type:' || r.name]; END IF;
    IF r.relkind IN ('i', 'I') THEN
      SELECT indrelid INTO owner FROM pg_index WHERE indexrelid = obj;
      RETURN ARRAY['index:' || r.name] || coalesce(strata_guard.ids_of('pg_class'::regclass, owner), '{}');
    END IF;
    IF r.relkind = 'S' THEN
      SELECT refobjid INTO owner FROM pg_depend
       WHERE classid = 'pg_class'::regclass AND objid = obj AND refclassid = 'pg_class'::regclass
         AND deptype IN ('a', 'i') LIMIT 1;
      RETURN ARRAY['sequence:' || r.name] || coalesce(strata_guard.ids_of('pg_class'::regclass, owner), '{}');
    END IF;
    RETURN '{}';
  ELSIF cls = 'pg_proc'::regclass THEN
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure:' ELSE 'function:' END
             || quote_ident(n.nspname) || '.' || quote_ident(p.proname)
             || '(' || replace(oidvectortypes(p.proargtypes), ', ', ',') || ')' AS id, p.prokind INTO r
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = obj;
    IF NOT FOUND OR r.prokind NOT IN ('f', 'p') THEN RETURN '{}'; END IF;
    RETURN ARRAY[r.id];
  ELSIF cls = 'pg_type'::regclass THEN
    SELECT t.typtype, t.typrelid, t.typelem, t.typcategory,
           quote_ident(n.nspname) || '.' || quote_ident(t.typname) AS name INTO r
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = obj;
    IF NOT FOUND THEN RETURN '{}'; END IF;
    IF r.typrelid <> 0 THEN RETURN strata_guard.ids_of('pg_class'::regclass, r.typrelid); END IF;
    IF r.typcategory = 'A' AND r.typelem <> 0 THEN RETURN strata_guard.ids_of('pg_type'::regclass, r.typelem); END IF;
    RETURN ARRAY[CASE WHEN r.typtype = 'd' THEN 'domain:' ELSE 'type:' END || r.name];
  ELSIF cls = 'pg_namespace'::regclass THEN
    RETURN ARRAY(SELECT 'schema:' || quote_ident(nspname) FROM pg_namespace WHERE oid = obj);
  ELSIF cls = 'pg_constraint'::regclass THEN
    SELECT conrelid, contypid INTO r FROM pg_constraint WHERE oid = obj;
    IF NOT FOUND THEN RETURN '{}'; END IF;
    IF r.conrelid <> 0 THEN RETURN strata_guard.ids_of('pg_class'::regclass, r.conrelid); END IF;
    RETURN strata_guard.ids_of('pg_type'::regclass, r.contypid);
  ELSIF cls = 'pg_trigger'::regclass THEN
    SELECT t.tgrelid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(t.tgname) AS name
      INTO r FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE t.oid = obj;
    IF NOT FOUND THEN RETURN '{}'; END IF;
    RETURN ARRAY['trigger:' || r.name] || strata_guard.ids_of('pg_class'::regclass, r.tgrelid);
  ELSIF cls = 'pg_policy'::regclass THEN
    RETURN strata_guard.ids_of('pg_class'::regclass, (SELECT polrelid FROM pg_policy WHERE oid = obj));
  ELSIF cls = 'pg_rewrite'::regclass THEN
    RETURN strata_guard.ids_of('pg_class'::regclass, (SELECT ev_class FROM pg_rewrite WHERE oid = obj));
  ELSIF cls = 'pg_attrdef'::regclass THEN
    RETURN strata_guard.ids_of('pg_class'::regclass, (SELECT adrelid FROM pg_attrdef WHERE oid = obj));
  ELSIF cls = 'pg_statistic_ext'::regclass THEN
    RETURN strata_guard.ids_of('pg_class'::regclass, (SELECT stxrelid FROM pg_statistic_ext WHERE oid = obj));
  END IF;
  RETURN '{}';
END
$guard$;
)sql";

// The same for a dropped object, whose catalog rows are gone: from the names
// pg_event_trigger_dropped_objects() reports.
constexpr char kIdsOfDropped[] = R"sql(
CREATE OR REPLACE FUNCTION strata_guard.ids_of_dropped(kind text, names text[], args text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $guard$
DECLARE
  q text;
BEGIN
  IF array_length(names, 1) >= 2 THEN q := quote_ident(names[1]) || '.' || quote_ident(names[2]); END IF;
  CASE kind
    WHEN 'table', 'foreign table' THEN RETURN ARRAY['table:' || q];
    WHEN 'view' THEN RETURN ARRAY['view:' || q];
    WHEN 'materialized view' THEN RETURN ARRAY['materialized_view:' || q];
    WHEN 'sequence' THEN RETURN ARRAY['sequence:' || q];
    WHEN 'index' THEN RETURN ARRAY['index:' || q];
    WHEN 'type' THEN RETURN CASE WHEN names[2] LIKE '%[]' THEN '{}' ELSE ARRAY['type:' || q] END;
    WHEN 'domain' THEN RETURN ARRAY['domain:' || q];
    WHEN 'function', 'procedure' THEN
      RETURN ARRAY[kind || ':' || q || '(' || array_to_string(
        ARRAY(SELECT regexp_replace(a, '^pg_catalog\.', '') FROM unnest(args) a), ',') || ')'];
    WHEN 'schema' THEN RETURN ARRAY['schema:' || quote_ident(names[1])];
    WHEN 'trigger' THEN
      RETURN ARRAY['trigger:' || q || '.' || quote_ident(names[3]), 'table:' || q, 'view:' || q];
    WHEN 'table constraint', 'policy', 'rule', 'default value', 'table column', 'statistics object' THEN
      RETURN ARRAY['table:' || q, 'view:' || q, 'materialized_view:' || q];
    ELSE RETURN '{}';
  END CASE;
END
$guard$;
)sql";

// The decision: the first managed id among `ids` must be checked out by the
// session's login role. SECURITY DEFINER: it reads tables nobody else may.
constexpr char kCheck[] = R"sql(
CREATE OR REPLACE FUNCTION strata_guard.check(ids text[], command text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $guard$
DECLARE
  id text;
  c record;
BEGIN
  -- Strata's own deployments: sessions of the guard's owner (the role the
  -- deploy service connects as) that say they are Strata. (That role is a
  -- superuser, who could switch the guard off anyway.)
  IF current_setting('application_name') = 'strata-deploy'
     AND session_user = (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'strata_guard') THEN
    RETURN;
  END IF;
  FOREACH id IN ARRAY coalesce(ids, '{}') LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM strata_guard.managed m WHERE m.object = id);
    SELECT * INTO c FROM strata_guard.checkouts k WHERE k.object = id;
    IF NOT FOUND THEN
      RAISE EXCEPTION '% is managed by Strata and not checked out', substr(id, strpos(id, ':') + 1)
        USING ERRCODE = 'insufficient_privilege',
              HINT = format('check it out first: strata checkout %s (%s refused for database role %s)', id, command, session_user);
    ELSIF c.db_role <> session_user THEN
      RAISE EXCEPTION '% is checked out by % (%) since %', substr(id, strpos(id, ':') + 1), c.holder, c.site,
                      to_char(c.since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
        USING ERRCODE = 'insufficient_privilege',
              HINT = format('%s refused: database role %s does not hold the check-out of %s', command, session_user, id);
    END IF;
    RETURN;
  END LOOP;
END
$guard$;
REVOKE ALL ON FUNCTION strata_guard.check(text[], text) FROM PUBLIC;
GRANT USAGE ON SCHEMA strata_guard TO PUBLIC;
GRANT EXECUTE ON FUNCTION strata_guard.check(text[], text) TO PUBLIC;
)sql";

constexpr char kTriggers[] = R"sql(
CREATE OR REPLACE FUNCTION strata_guard.on_ddl() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $guard$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    CONTINUE WHEN r.in_extension OR r.classid IS NULL OR r.schema_name = 'strata_guard'
               OR (r.object_type = 'schema' AND r.object_identity = 'strata_guard');
    PERFORM strata_guard.check(strata_guard.ids_of(r.classid, r.objid), r.command_tag);
  END LOOP;
END
$guard$;
CREATE OR REPLACE FUNCTION strata_guard.on_drop() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $guard$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
    CONTINUE WHEN NOT (r.original OR r.normal) OR r.is_temporary OR r.object_type = 'toast table'
               OR r.schema_name = 'strata_guard' OR r.object_identity = 'strata_guard';
    PERFORM strata_guard.check(strata_guard.ids_of_dropped(r.object_type, r.address_names, r.address_args), 'DROP');
  END LOOP;
END
$guard$;
DROP EVENT TRIGGER IF EXISTS strata_guard_ddl;
DROP EVENT TRIGGER IF EXISTS strata_guard_drop;
CREATE EVENT TRIGGER strata_guard_ddl ON ddl_command_end EXECUTE FUNCTION strata_guard.on_ddl();
CREATE EVENT TRIGGER strata_guard_drop ON sql_drop EXECUTE FUNCTION strata_guard.on_drop();
ALTER EVENT TRIGGER strata_guard_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER strata_guard_drop ENABLE ALWAYS;
)sql";

constexpr char kUninstall[] = R"sql(
DROP EVENT TRIGGER IF EXISTS strata_guard_ddl;
DROP EVENT TRIGGER IF EXISTS strata_guard_drop;
DROP SCHEMA IF EXISTS strata_guard CASCADE;
)sql";

}  // namespace

absl::Status InstallGuard(pg::Session& db) {
  auto who = db.Query("SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)");
  if (!who.ok()) return who.status();
  if (!who->is_true(0, 1))
    return absl::FailedPreconditionError(fmt::format(
        "installing the guard in {} needs a superuser connection (PostgreSQL lets only superusers create event "
        "triggers); role {} is not one. Nothing was installed. Register the environment with a superuser URL, or "
        "have a superuser run `strata guard install`",
        db.database(), who->text(0, 0)));
  // One transaction: all of it or nothing.
  const std::string script = std::string("BEGIN;") + kTables + kIdsOf + kIdsOfDropped + kCheck + kTriggers + "COMMIT;";
  if (absl::Status s = db.Exec(script); !s.ok()) {
    (void)db.Exec("ROLLBACK");
    return absl::Status(s.code(), fmt::format("installing the guard in {} failed, nothing was installed: {}",
                                              db.database(), std::string(s.message())));
  }
  return absl::OkStatus();
}

absl::Status UninstallGuard(pg::Session& db) {
  return db.Exec(std::string("BEGIN;") + kUninstall + "COMMIT;");
}

absl::StatusOr<bool> GuardInstalled(pg::Session& db) {
  auto rows = db.Query(
      "SELECT to_regclass('strata_guard.checkouts') IS NOT NULL AND "
      "EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'strata_guard_ddl')");
  if (!rows.ok()) return rows.status();
  return rows->is_true(0, 0);
}

absl::Status WriteGuardState(pg::Session& db, const GuardState& state) {
  nlohmann::json managed = state.managed;
  nlohmann::json checkouts = nlohmann::json::array();
  for (const GuardCheckout& c : state.checkouts)
    checkouts.push_back({{"object", c.object},
                         {"db_role", c.db_role},
                         {"holder", c.holder},
                         {"site", c.site},
                         {"since", c.since_unix}});
  if (absl::Status s = db.Exec("BEGIN"); !s.ok()) return s;
  auto run = [&]() -> absl::Status {
    if (absl::Status s = db.Exec("DELETE FROM strata_guard.managed; DELETE FROM strata_guard.checkouts"); !s.ok())
      return s;
    if (auto r = db.Query("INSERT INTO strata_guard.managed SELECT jsonb_array_elements_text($1::jsonb)",
                          {managed.dump()});
        !r.ok())
      return r.status();
    if (auto r = db.Query(
            "INSERT INTO strata_guard.checkouts SELECT x.object, x.db_role, x.holder, x.site, to_timestamp(x.since) "
            "FROM jsonb_to_recordset($1::jsonb) AS x(object text, db_role text, holder text, site text, since bigint)",
            {checkouts.dump()});
        !r.ok())
      return r.status();
    if (auto r = db.Query("INSERT INTO strata_guard.sync VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET "
                          "synced_at = excluded.synced_at");
        !r.ok())
      return r.status();
    return db.Exec("COMMIT");
  };
  absl::Status s = run();
  if (!s.ok()) (void)db.Exec("ROLLBACK");
  return s;
}

absl::StatusOr<GuardState> ReadGuardState(pg::Session& db) {
  GuardState state;
  auto managed = db.Query("SELECT object FROM strata_guard.managed ORDER BY object");
  if (!managed.ok()) return managed.status();
  for (int i = 0; i < managed->size(); ++i) state.managed.push_back(managed->text(i, 0));
  auto rows = db.Query(
      "SELECT object, db_role, holder, site, extract(epoch FROM since)::bigint FROM strata_guard.checkouts "
      "ORDER BY object");
  if (!rows.ok()) return rows.status();
  for (int i = 0; i < rows->size(); ++i)
    state.checkouts.push_back(
        {rows->text(i, 0), rows->text(i, 1), rows->text(i, 2), rows->text(i, 3), rows->number(i, 4)});
  return state;
}

absl::StatusOr<double> GuardSyncedAt(pg::Session& db) {
  auto rows = db.Query("SELECT coalesce((SELECT extract(epoch FROM synced_at) FROM strata_guard.sync), 0)");
  if (!rows.ok()) return rows.status();
  return std::stod(rows->text(0, 0));
}

GuardSync::GuardSync(Environments environments, Expected expected, absl::Duration period)
    : environments_(std::move(environments)), expected_(std::move(expected)), period_(period) {}

GuardSync::~GuardSync() { Stop(); }

void GuardSync::Start() {
  thread_ = std::thread([this] {
    while (!stopping_.load()) {
      Round();
      for (absl::Duration slept; slept < period_ && !stopping_.load(); slept += absl::Milliseconds(20))
        absl::SleepFor(absl::Milliseconds(20));
    }
  });
}

void GuardSync::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void GuardSync::Round() {
  auto expected = expected_();
  if (!expected.ok()) {
    spdlog::warn("guard sync: cannot read the expected state: {}", expected.status().ToString());
    return;
  }
  const absl::Time now = absl::Now();
  for (const auto& [name, url] : environments_()) {
    Target& t = targets_[name];
    // Unreachable environments are tried again every few seconds; reachable
    // ones without a guard are asked twice a second whether one is there
    // now (one query on a kept connection), so a new guard follows the log
    // from its first check-out on.
    if (now < t.next_probe) continue;
    auto fail = [&](const absl::Status& s) {
      const std::string error(s.message());
      if (error != t.last_error) spdlog::warn("guard sync {}: {}", name, error);
      t.last_error = error;
      t.session.reset();
      t.written.reset();
      t.next_probe = now + absl::Seconds(2);
    };
    if (!t.session) {
      auto session = pg::Session::Connect(url);
      if (!session.ok()) {
        fail(session.status());
        continue;
      }
      t.session = std::move(*session);
    }
    if (!t.written) {
      auto installed = GuardInstalled(*t.session);
      if (!installed.ok()) {
        fail(installed.status());
        continue;
      }
      if (!*installed) {
        t.next_probe = now + absl::Milliseconds(500);
        continue;
      }
    }
    // What this loop wrote is trusted for a few seconds; then the table is
    // read back, so a reinstalled or hand-emptied guard is repaired.
    if (t.written && *t.written == *expected && now - t.written_at < absl::Seconds(5)) continue;
    if (t.written && *t.written == *expected) {
      auto actual = ReadGuardState(*t.session);
      if (actual.ok() && *actual == *expected) {
        t.written_at = now;
        continue;
      }
    }
    if (absl::Status s = WriteGuardState(*t.session, *expected); !s.ok()) {
      fail(s);
      continue;
    }
    if (!t.last_error.empty()) spdlog::info("guard sync {}: in sync again", name);
    t.last_error.clear();
    t.written = *expected;
    t.written_at = now;
  }
}

}  // namespace strata::deploy
