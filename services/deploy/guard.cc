#include "deploy/guard.h"

#include <set>

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace strata::deploy {
namespace {

// The guard's tables. Only the owner (the installing superuser) may touch
// them; the event triggers read them through SECURITY DEFINER functions.
constexpr char kTables[] = R"sql(
CREATE SCHEMA IF NOT EXISTS strata_guard;
REVOKE ALL ON SCHEMA strata_guard FROM PUBLIC;
-- classid/objid: where the object is now (refreshed by the sync), so that a
-- RENAME or SET SCHEMA, which the trigger sees under the new name, is still
-- recognised as a change to the managed object.
CREATE TABLE IF NOT EXISTS strata_guard.managed (object text PRIMARY KEY);
ALTER TABLE strata_guard.managed ADD COLUMN IF NOT EXISTS classid oid, ADD COLUMN IF NOT EXISTS objid oid;
CREATE INDEX IF NOT EXISTS managed_address ON strata_guard.managed (objid, classid);
CREATE TABLE IF NOT EXISTS strata_guard.checkouts (
  object text PRIMARY KEY,
  db_role text NOT NULL,
  holder text NOT NULL,
  site text NOT NULL,
  since timestamptz NOT NULL
);
-- synced_at: when the deploy service last confirmed, with its projection
-- caught up with the log, that the tables are current. Older than
-- stale_after, the guard fails closed (see check()).
CREATE TABLE IF NOT EXISTS strata_guard.sync (
  id int PRIMARY KEY CHECK (id = 1),
  synced_at timestamptz NOT NULL
);
ALTER TABLE strata_guard.sync ADD COLUMN IF NOT EXISTS stale_after interval NOT NULL DEFAULT '60 seconds';
-- The sync reads the tables a slice of objects at a time, in byte order.
CREATE INDEX IF NOT EXISTS managed_object_bytes ON strata_guard.managed (object COLLATE "C");
CREATE INDEX IF NOT EXISTS checkouts_object_bytes ON strata_guard.checkouts (object COLLATE "C");
REVOKE ALL ON ALL TABLES IN SCHEMA strata_guard FROM PUBLIC;
)sql";

// What this code installs; a guard found with an older version is upgraded
// by the sync (GuardSync), keeping its tables and settings.
// 3: indexes for reading slices of objects.
constexpr int kGuardVersion = 3;

// Strata ids of what a catalog row belongs to, the object itself first and
// then what contains it (an index's table, a trigger's table, ...): the first
// managed one decides.
constexpr char kIdsOf[] = R"sql(
CREATE OR REPLACE FUNCTION strata_guard.ids_of(cls oid, obj oid) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $guard$
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
// pg_event_trigger_dropped_objects() reports, and for an index the table it
// was on, noted when the DROP INDEX started (on_drop_index_start).
constexpr char kIdsOfDropped[] = R"sql(
CREATE OR REPLACE FUNCTION strata_guard.ids_of_dropped(kind text, names text[], args text[]) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $guard$
DECLARE
  q text;
BEGIN
  IF array_length(names, 1) >= 2 THEN q := quote_ident(names[1]) || '.' || quote_ident(names[2]); END IF;
  CASE kind
    WHEN 'table', 'foreign table' THEN RETURN ARRAY['table:' || q];
    WHEN 'view' THEN RETURN ARRAY['view:' || q];
    WHEN 'materialized view' THEN RETURN ARRAY['materialized_view:' || q];
    WHEN 'sequence' THEN RETURN ARRAY['sequence:' || q];
    WHEN 'index' THEN
      RETURN array_remove(ARRAY['index:' || q,
        nullif(current_setting('strata_guard.index_owners', true), '')::jsonb ->> ('index:' || q)], NULL);
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

// Where a Strata id's object is in this database's catalog now (NULLs: not
// there, or a kind the guard follows through its table).
constexpr char kAddressOf[] = R"sql(
CREATE OR REPLACE FUNCTION strata_guard.address_of(id text, OUT classid oid, OUT objid oid)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $guard$
DECLARE
  kind text := split_part(id, ':', 1);
  name text := substr(id, strpos(id, ':') + 1);
BEGIN
  IF kind IN ('table', 'view', 'materialized_view', 'sequence', 'index') THEN
    classid := 'pg_class'::regclass; objid := to_regclass(name);
  ELSIF kind IN ('function', 'procedure') THEN
    classid := 'pg_proc'::regclass; objid := to_regprocedure(name);
  ELSIF kind IN ('type', 'domain') THEN
    classid := 'pg_type'::regclass; objid := to_regtype(name);
  ELSIF kind = 'schema' THEN
    classid := 'pg_namespace'::regclass; objid := to_regnamespace(name);
  END IF;
  IF objid IS NULL THEN classid := NULL; END IF;
EXCEPTION WHEN OTHERS THEN  -- a name the to_reg functions cannot parse
  classid := NULL; objid := NULL;
END
$guard$;
)sql";

// GRANT and REVOKE reach event triggers without a target. What they changed
// is what the current transaction (or one of its subtransactions) wrote to
// the catalogs holding privileges: rows whose xmin is in progress and visible
// to us (other transactions' uncommitted rows are not). Our subtransactions'
// xids are at or after our top-level xid: the distance from it, modulo 2^32,
// is under 2^31 for them and for later transactions (whose rows are visible
// only once committed), and 2^31 or more for older ones (non-frozen xmins are
// never further back than that; frozen ones read as xid 2). (age() alone
// is not enough: its reference xid is fixed at its first call in a
// transaction, possibly before ours was assigned.)
// Rows written earlier in the same transaction come along; they passed the
// guard then and pass again.
constexpr char kWrittenByThisTransaction[] = R"sql(
CREATE OR REPLACE FUNCTION strata_guard.written_by_this_transaction() RETURNS TABLE (cls oid, obj oid)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $guard$
DECLARE
  -- Only catalogs this transaction updated rows of are read (the current
  -- transaction's statistics say which): a table's GRANT does not read the
  -- large pg_attribute unless column privileges changed. Without
  -- track_counts there are no such statistics: every catalog is read.
  all_of_them boolean := NOT current_setting('track_counts')::boolean;
  in_class boolean := all_of_them OR pg_stat_get_xact_tuples_updated('pg_catalog.pg_class'::regclass) > 0;
  in_attribute boolean := all_of_them OR pg_stat_get_xact_tuples_updated('pg_catalog.pg_attribute'::regclass) > 0;
  in_proc boolean := all_of_them OR pg_stat_get_xact_tuples_updated('pg_catalog.pg_proc'::regclass) > 0;
  in_namespace boolean := all_of_them OR pg_stat_get_xact_tuples_updated('pg_catalog.pg_namespace'::regclass) > 0;
  in_type boolean := all_of_them OR pg_stat_get_xact_tuples_updated('pg_catalog.pg_type'::regclass) > 0;
  top bigint := pg_current_xact_id()::text::bigint;
  low bigint := top % 4294967296;
BEGIN
  RETURN QUERY
  WITH rows AS (
    SELECT 'pg_catalog.pg_class'::regclass::oid AS c, oid AS o, xmin FROM pg_catalog.pg_class WHERE in_class
    UNION ALL SELECT 'pg_catalog.pg_class'::regclass, attrelid, xmin FROM pg_catalog.pg_attribute
     WHERE in_attribute AND attnum > 0
    UNION ALL SELECT 'pg_catalog.pg_proc'::regclass, oid, xmin FROM pg_catalog.pg_proc WHERE in_proc
    UNION ALL SELECT 'pg_catalog.pg_namespace'::regclass, oid, xmin FROM pg_catalog.pg_namespace WHERE in_namespace
    UNION ALL SELECT 'pg_catalog.pg_type'::regclass, oid, xmin FROM pg_catalog.pg_type WHERE in_type),
  -- age() <= 0 is a cheap first cut that keeps every row of ours (its
  -- reference is at or before our top-level xid); the distance is exact.
  recent AS (SELECT r.c, r.o, r.xmin::text::bigint AS x FROM rows r WHERE age(r.xmin) <= 0),
  ahead AS (SELECT r.c, r.o, (r.x - low + 4294967296) % 4294967296 AS d FROM recent r WHERE r.x >= 3)
  SELECT DISTINCT a.c, a.o FROM ahead a
   WHERE CASE WHEN a.d < 2147483648 THEN pg_xact_status((top + a.d)::text::xid8) = 'in progress' ELSE false END;
END
$guard$;
)sql";

// The decision: the first managed id among `ids`, or else the managed
// object at (cls, obj) under its old name (a rename), must be checked out by
// the session's login role, and the guard must be current: when the deploy
// service has not confirmed the check-outs for longer than stale_after, the
// guard fails closed, so that a check-in or a change of holder it has not
// heard of yet cannot be overrun. SECURITY DEFINER: it reads tables nobody
// else may.
constexpr char kCheck[] = R"sql(
DROP FUNCTION IF EXISTS strata_guard.check(text[], text);
CREATE OR REPLACE FUNCTION strata_guard.check(ids text[], command text, cls oid DEFAULT NULL, obj oid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $guard$
DECLARE
  id text;
  c record;
  s record;
BEGIN
  -- Strata's own deployments: sessions of the guard's owner (the role the
  -- deploy service connects as) that say they are Strata. (That role is a
  -- superuser, who could switch the guard off anyway.)
  IF current_setting('application_name') = 'strata-deploy'
     AND session_user = (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'strata_guard') THEN
    RETURN;
  END IF;
  -- The object itself first, under the name it had (a rename), then what
  -- ids_of says (its name now, then what contains it).
  ids := coalesce(ids, '{}');
  IF obj IS NOT NULL THEN
    ids := ARRAY(SELECT m.object FROM strata_guard.managed m WHERE m.objid = obj AND m.classid = cls) || ids;
  END IF;
  FOREACH id IN ARRAY ids LOOP
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
    SELECT * INTO s FROM strata_guard.sync;
    IF NOT FOUND OR (s.stale_after > interval '0' AND s.synced_at < clock_timestamp() - s.stale_after) THEN
      RAISE EXCEPTION '% cannot be changed now: the guard in this database has not heard from Strata %',
                      substr(id, strpos(id, ':') + 1),
                      CASE WHEN s.synced_at IS NULL OR s.synced_at = '-infinity' THEN 'yet'
                           ELSE 'since ' || to_char(s.synced_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') END
        USING ERRCODE = 'insufficient_privilege',
              HINT = format('its check-outs may be out of date, so it refuses changes to managed objects until '
                            'Strata''s deploy service confirms them again (after %s without). `strata guard status` '
                            'shows this; tell whoever runs Strata', coalesce(s.stale_after::text, 'a while'));
    END IF;
    RETURN;
  END LOOP;
END
$guard$;
REVOKE ALL ON FUNCTION strata_guard.check(text[], text, oid, oid) FROM PUBLIC;
GRANT USAGE ON SCHEMA strata_guard TO PUBLIC;
GRANT EXECUTE ON FUNCTION strata_guard.check(text[], text, oid, oid) TO PUBLIC;
)sql";

constexpr char kTriggers[] = R"sql(
CREATE OR REPLACE FUNCTION strata_guard.on_ddl() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $guard$
DECLARE
  r record;
  w record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    CONTINUE WHEN r.in_extension;
    IF r.command_tag IN ('GRANT', 'REVOKE') THEN
      FOR w IN SELECT * FROM strata_guard.written_by_this_transaction() LOOP
        PERFORM strata_guard.check(strata_guard.ids_of(w.cls, w.obj), r.command_tag, w.cls, w.obj);
      END LOOP;
      CONTINUE;
    END IF;
    CONTINUE WHEN r.classid IS NULL OR r.schema_name = 'strata_guard'
               OR (r.object_type = 'schema' AND r.object_identity = 'strata_guard');
    PERFORM strata_guard.check(strata_guard.ids_of(r.classid, r.objid), r.command_tag, r.classid, r.objid);
  END LOOP;
END
$guard$;
CREATE OR REPLACE FUNCTION strata_guard.on_drop() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $guard$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
    CONTINUE WHEN NOT (r.original OR r.normal) OR r.is_temporary OR r.object_type = 'toast table'
               OR r.schema_name = 'strata_guard' OR r.object_identity = 'strata_guard';
    PERFORM strata_guard.check(strata_guard.ids_of_dropped(r.object_type, r.address_names, r.address_args), 'DROP');
  END LOOP;
  PERFORM set_config('strata_guard.index_owners', '', false);
END
$guard$;
-- At sql_drop an index's catalog rows are gone, and with them its table:
-- note every index's table (as Strata ids) when a DROP INDEX starts. (The
-- statement names its indexes only in its text; all of them are noted.)
CREATE OR REPLACE FUNCTION strata_guard.on_drop_index_start() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $guard$
BEGIN
  PERFORM set_config('strata_guard.index_owners', coalesce((
    SELECT jsonb_object_agg('index:' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                            CASE WHEN t.relkind = 'm' THEN 'materialized_view:' ELSE 'table:' END
                              || quote_ident(tn.nspname) || '.' || quote_ident(t.relname))
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast'))::text, '{}'),
    false);  -- the session's: DROP INDEX CONCURRENTLY commits in between; on_drop clears it
END
$guard$;
DROP EVENT TRIGGER IF EXISTS strata_guard_ddl;
DROP EVENT TRIGGER IF EXISTS strata_guard_drop;
DROP EVENT TRIGGER IF EXISTS strata_guard_drop_index;
CREATE EVENT TRIGGER strata_guard_ddl ON ddl_command_end EXECUTE FUNCTION strata_guard.on_ddl();
CREATE EVENT TRIGGER strata_guard_drop ON sql_drop EXECUTE FUNCTION strata_guard.on_drop();
CREATE EVENT TRIGGER strata_guard_drop_index ON ddl_command_start WHEN TAG IN ('DROP INDEX')
  EXECUTE FUNCTION strata_guard.on_drop_index_start();
ALTER EVENT TRIGGER strata_guard_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER strata_guard_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER strata_guard_drop_index ENABLE ALWAYS;
)sql";

constexpr char kVersion[] = R"sql(
CREATE OR REPLACE FUNCTION strata_guard.version() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT {}';
)sql";

constexpr char kUninstall[] = R"sql(
DROP EVENT TRIGGER IF EXISTS strata_guard_ddl;
DROP EVENT TRIGGER IF EXISTS strata_guard_drop;
DROP EVENT TRIGGER IF EXISTS strata_guard_drop_index;
DROP SCHEMA IF EXISTS strata_guard CASCADE;
)sql";

}  // namespace

absl::Status InstallGuard(pg::Session& db, std::optional<absl::Duration> stale_after) {
  auto who = db.Query("SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)");
  if (!who.ok()) return who.status();
  if (!who->is_true(0, 1))
    return absl::FailedPreconditionError(fmt::format(
        "installing the guard in {} needs a superuser connection (PostgreSQL lets only superusers create event "
        "triggers); role {} is not one. Nothing was installed. Register the environment with a superuser URL, or "
        "have a superuser run `strata guard install`",
        db.database(), who->text(0, 0)));
  // One transaction: all of it or nothing.
  const std::string script = std::string("BEGIN;") + kTables + kIdsOf + kIdsOfDropped + kAddressOf +
                             kWrittenByThisTransaction + kCheck + kTriggers + fmt::format(kVersion, kGuardVersion);
  auto run = [&]() -> absl::Status {
    if (absl::Status s = db.Exec(script); !s.ok()) return s;
    // A new guard is not confirmed until the deploy service, caught up with
    // the log, says so (ConfirmGuard); a reinstall or upgrade keeps the last
    // confirmation, and its setting unless a new one is given.
    const std::string seconds = stale_after ? std::to_string(absl::ToDoubleSeconds(*stale_after)) : "60";
    if (auto r = db.Query(fmt::format("INSERT INTO strata_guard.sync VALUES (1, '-infinity', make_interval(secs => "
                                      "$1::float8)) ON CONFLICT (id) DO {}",
                                      stale_after ? "UPDATE SET stale_after = excluded.stale_after" : "NOTHING"),
                          {seconds});
        !r.ok())
      return r.status();
    return db.Exec("COMMIT");
  };
  if (absl::Status s = run(); !s.ok()) {
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
  auto version = InstalledGuardVersion(db);
  if (!version.ok()) return version.status();
  return *version > 0;
}

absl::StatusOr<int> InstalledGuardVersion(pg::Session& db) {
  auto rows = db.Query(
      "SELECT CASE WHEN to_regclass('strata_guard.checkouts') IS NULL OR "
      "NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'strata_guard_ddl') THEN 0 "
      "WHEN to_regprocedure('strata_guard.version()') IS NULL THEN 1 ELSE -1 END");
  if (!rows.ok()) return rows.status();
  const int found = static_cast<int>(rows->number(0, 0));
  if (found >= 0) return found;
  auto version = db.Query("SELECT strata_guard.version()");
  if (!version.ok()) return version.status();
  return static_cast<int>(version->number(0, 0));
}

int CurrentGuardVersion() { return kGuardVersion; }

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
    // One writer at a time (the sync, an install): two replacing the rows
    // concurrently would both insert them. Readers (the triggers) pass.
    if (absl::Status s = db.Exec("LOCK TABLE strata_guard.managed, strata_guard.checkouts IN EXCLUSIVE MODE; "
                                 "DELETE FROM strata_guard.managed; DELETE FROM strata_guard.checkouts");
        !s.ok())
      return s;
    if (auto r = db.Query("INSERT INTO strata_guard.managed (object, classid, objid) SELECT x, a.classid, a.objid "
                          "FROM jsonb_array_elements_text($1::jsonb) AS x, strata_guard.address_of(x) AS a",
                          {managed.dump()});
        !r.ok())
      return r.status();
    if (auto r = db.Query(
            "INSERT INTO strata_guard.checkouts SELECT x.object, x.db_role, x.holder, x.site, to_timestamp(x.since) "
            "FROM jsonb_to_recordset($1::jsonb) AS x(object text, db_role text, holder text, site text, since bigint)",
            {checkouts.dump()});
        !r.ok())
      return r.status();
    return db.Exec("COMMIT");
  };
  absl::Status s = run();
  if (!s.ok()) (void)db.Exec("ROLLBACK");
  return s;
}

absl::Status ConfirmGuard(pg::Session& db, absl::Duration age) {
  auto r = db.Query(
      "INSERT INTO strata_guard.sync (id, synced_at) VALUES (1, now() - make_interval(secs => $1::float8)) "
      "ON CONFLICT (id) DO UPDATE SET synced_at = excluded.synced_at",
      {std::to_string(absl::ToDoubleSeconds(age))});
  return r.status();
}

namespace {

// "object > $1 [AND object <= $2]" and its parameters, for a range of
// objects (see ReadGuardStateRange). Objects sort bytewise, as in the
// projection (COLLATE "C").
std::pair<std::string, std::vector<std::string>> RangeCondition(const std::string& column, const std::string& after,
                                                                const std::optional<std::string>& last) {
  std::string condition = column + " COLLATE \"C\" > $1";
  std::vector<std::string> params = {after};
  if (last) {
    condition += " AND " + column + " COLLATE \"C\" <= $2";
    params.push_back(*last);
  }
  return {condition, params};
}

}  // namespace

absl::Status RefreshGuardAddresses(pg::Session& db, const std::string& after, const std::optional<std::string>& last) {
  // An address whose object still exists is kept when the name no longer
  // finds it (its schema was renamed): it is still the managed object.
  auto [condition, params] = RangeCondition("x.object", after, last);
  return db.Query(
               "UPDATE strata_guard.managed m SET classid = a.classid, objid = a.objid "
               "FROM strata_guard.managed x, strata_guard.address_of(x.object) a "
               "WHERE " + condition + " AND m.object = x.object "
               "AND (m.classid, m.objid) IS DISTINCT FROM (a.classid, a.objid) "
               "AND (a.objid IS NOT NULL OR m.objid IS NULL OR pg_describe_object(m.classid, m.objid, 0) IS NULL)",
               params)
      .status();
}

absl::Status RefreshGuardAddresses(pg::Session& db) { return RefreshGuardAddresses(db, "", std::nullopt); }

absl::StatusOr<GuardState> ReadGuardStateRange(pg::Session& db, const std::string& after,
                                               const std::optional<std::string>& last) {
  GuardState state;
  auto [managed_condition, params] = RangeCondition("object", after, last);
  auto managed = db.Query(
      "SELECT object FROM strata_guard.managed WHERE " + managed_condition + " ORDER BY object COLLATE \"C\"",
      params);
  if (!managed.ok()) return managed.status();
  for (int i = 0; i < managed->size(); ++i) state.managed.push_back(managed->text(i, 0));
  auto rows = db.Query(
      "SELECT object, db_role, holder, site, extract(epoch FROM since)::bigint FROM strata_guard.checkouts "
      "WHERE " + managed_condition + " ORDER BY object COLLATE \"C\"",
      params);
  if (!rows.ok()) return rows.status();
  for (int i = 0; i < rows->size(); ++i)
    state.checkouts.push_back(
        {rows->text(i, 0), rows->text(i, 1), rows->text(i, 2), rows->text(i, 3), rows->number(i, 4)});
  return state;
}

absl::StatusOr<GuardState> ReadGuardState(pg::Session& db) { return ReadGuardStateRange(db, "", std::nullopt); }

absl::StatusOr<GuardConfirmation> ReadGuardConfirmation(pg::Session& db) {
  auto rows = db.Query(
      "SELECT synced_at > '-infinity', "
      "CASE WHEN synced_at > '-infinity' THEN extract(epoch FROM synced_at)::float8 ELSE 0 END, "
      "extract(epoch FROM stale_after)::float8, "
      "CASE WHEN synced_at > '-infinity' THEN extract(epoch FROM clock_timestamp() - synced_at)::float8 ELSE 0 END, "
      "stale_after > interval '0' AND synced_at < clock_timestamp() - stale_after "
      "FROM strata_guard.sync");
  if (!rows.ok()) return rows.status();
  GuardConfirmation c;
  if (rows->size() == 0) {  // the guard refuses changes without it
    c.fails_closed = true;
    return c;
  }
  c.confirmed_unix = rows->is_true(0, 0) ? std::stod(rows->text(0, 1)) : 0;
  c.stale_after = absl::Seconds(std::stod(rows->text(0, 2)));
  c.age = absl::Seconds(std::stod(rows->text(0, 3)));
  c.fails_closed = rows->is_true(0, 4);
  return c;
}

GuardDelta DeltaBetween(const GuardState& actual, const GuardState& expected) {
  // Both sides are sorted by object: merge them.
  std::set<std::string> ids;
  {
    auto a = actual.managed.begin(), e = expected.managed.begin();
    while (a != actual.managed.end() || e != expected.managed.end()) {
      if (e == expected.managed.end() || (a != actual.managed.end() && *a < *e)) {
        ids.insert(*a++);
      } else if (a == actual.managed.end() || *e < *a) {
        ids.insert(*e++);
      } else {
        ++a, ++e;
      }
    }
  }
  {
    auto a = actual.checkouts.begin(), e = expected.checkouts.begin();
    while (a != actual.checkouts.end() || e != expected.checkouts.end()) {
      if (e == expected.checkouts.end() || (a != actual.checkouts.end() && a->object < e->object)) {
        ids.insert((a++)->object);
      } else if (a == actual.checkouts.end() || e->object < a->object) {
        ids.insert((e++)->object);
      } else {
        if (!(*a == *e)) ids.insert(a->object);
        ++a, ++e;
      }
    }
  }
  GuardDelta d;
  d.ids.assign(ids.begin(), ids.end());
  for (const std::string& m : expected.managed)
    if (ids.count(m)) d.managed.push_back(m);
  for (const GuardCheckout& c : expected.checkouts)
    if (ids.count(c.object)) d.checkouts.push_back(c);
  return d;
}

absl::Status ApplyGuardDelta(pg::Session& db, const GuardDelta& delta) {
  if (delta.ids.empty()) return absl::OkStatus();
  const nlohmann::json ids = delta.ids;
  const nlohmann::json managed = delta.managed;
  nlohmann::json checkouts = nlohmann::json::array();
  for (const GuardCheckout& c : delta.checkouts)
    checkouts.push_back({{"object", c.object},
                         {"db_role", c.db_role},
                         {"holder", c.holder},
                         {"site", c.site},
                         {"since", c.since_unix}});
  if (absl::Status s = db.Exec("BEGIN"); !s.ok()) return s;
  auto run = [&]() -> absl::Status {
    // One writer at a time, as in WriteGuardState.
    if (absl::Status s = db.Exec("LOCK TABLE strata_guard.managed, strata_guard.checkouts IN EXCLUSIVE MODE");
        !s.ok())
      return s;
    // A managed row that stays keeps its catalog address.
    if (auto r = db.Query("DELETE FROM strata_guard.managed WHERE object IN "
                          "(SELECT jsonb_array_elements_text($1::jsonb) EXCEPT "
                          " SELECT jsonb_array_elements_text($2::jsonb))",
                          {ids.dump(), managed.dump()});
        !r.ok())
      return r.status();
    if (auto r = db.Query("INSERT INTO strata_guard.managed (object, classid, objid) SELECT x, a.classid, a.objid "
                          "FROM jsonb_array_elements_text($1::jsonb) AS x, strata_guard.address_of(x) AS a "
                          "ON CONFLICT (object) DO NOTHING",
                          {managed.dump()});
        !r.ok())
      return r.status();
    if (auto r = db.Query("DELETE FROM strata_guard.checkouts WHERE object IN (SELECT jsonb_array_elements_text($1::jsonb))",
                          {ids.dump()});
        !r.ok())
      return r.status();
    if (auto r = db.Query(
            "INSERT INTO strata_guard.checkouts SELECT x.object, x.db_role, x.holder, x.site, to_timestamp(x.since) "
            "FROM jsonb_to_recordset($1::jsonb) AS x(object text, db_role text, holder text, site text, since bigint)",
            {checkouts.dump()});
        !r.ok())
      return r.status();
    return db.Exec("COMMIT");
  };
  absl::Status s = run();
  if (!s.ok()) (void)db.Exec("ROLLBACK");
  return s;
}

}  // namespace strata::deploy
