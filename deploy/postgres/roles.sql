-- The PostgreSQL roles of livevote, each with the least it needs:
--
--   migrate  owns the schema's tables and runs the migrations (`worker migrate`);
--   worker   reads and writes rows (SELECT, INSERT, UPDATE), changes no table;
--   result   reads (SELECT), nothing else.
--
-- Run it as a superuser in livevote's database, with psql:
--
--   psql -v ON_ERROR_STOP=1 \
--     -v migrate_role=livevote_migrate -v migrate_password=… \
--     -v worker_role=livevote_worker   -v worker_password=… \
--     -v result_role=livevote_result   -v result_password=… \
--     -f roles.sql
--
-- deploy/postgres/roles.sh does that from environment variables; compose
-- runs it on every start, the tests run this same file. It may be run again
-- at any time: it creates what is missing, sets the passwords and brings
-- the privileges back to exactly these. A missing or empty value, two roles
-- of one name, or an existing superuser named as one of the roles stops it
-- with an error before anything changes.
--
-- The tables stay in the schema public, where the original results app
-- finds `votes` with its default search_path; the migrating role gets
-- CREATE on public (PostgreSQL 15 and later grant it to nobody else).
-- Roles are shared by every database of the server; the grants are made in
-- the database this runs in.

BEGIN;

-- psql puts the variables into these literals; the DO block below reads
-- them back (psql does not substitute inside it). SET LOCAL: they are gone
-- at COMMIT.
SET LOCAL livevote.migrate_role = :'migrate_role';
SET LOCAL livevote.worker_role = :'worker_role';
SET LOCAL livevote.result_role = :'result_role';
SET LOCAL livevote.migrate_password = :'migrate_password';
SET LOCAL livevote.worker_password = :'worker_password';
SET LOCAL livevote.result_password = :'result_password';

DO $roles$
DECLARE
    owner_role  text := current_setting('livevote.migrate_role');
    worker_role text := current_setting('livevote.worker_role');
    result_role text := current_setting('livevote.result_role');
    r record;
BEGIN
    IF owner_role IN (worker_role, result_role) OR worker_role = result_role THEN
        RAISE EXCEPTION 'roles.sql: the three roles need three names, got migrate_role=%, worker_role=%, result_role=%',
            owner_role, worker_role, result_role;
    END IF;

    FOR r IN
        SELECT v.var, v.name, v.password FROM (VALUES
            ('migrate', owner_role, current_setting('livevote.migrate_password')),
            ('worker', worker_role, current_setting('livevote.worker_password')),
            ('result', result_role, current_setting('livevote.result_password'))
        ) AS v(var, name, password)
    LOOP
        IF r.name = '' THEN
            RAISE EXCEPTION 'roles.sql: %_role is empty', r.var;
        END IF;
        IF r.password = '' THEN
            RAISE EXCEPTION 'roles.sql: %_password (of role %) is empty', r.var, r.name;
        END IF;
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = r.name
                   AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)) THEN
            RAISE EXCEPTION 'roles.sql: role % exists with administrative rights; name a role of its own as %_role',
                r.name, r.var;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r.name) THEN
            EXECUTE format('CREATE ROLE %I', r.name);
        END IF;
        EXECUTE format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
            r.name, r.password);
        -- Settings a role gave itself (a stolen password's ALTER ROLE ...
        -- SET statement_timeout = 1, search_path = nowhere) go on every
        -- re-run.
        EXECUTE format('ALTER ROLE %I RESET ALL', r.name);
    END LOOP;

    -- The schema: only the migrating role may create in it. PostgreSQL 15
    -- and later revoke CREATE from PUBLIC already; older ones grant it, which
    -- would let the worker and the result server create tables.
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    EXECUTE format('GRANT USAGE, CREATE ON SCHEMA public TO %I', owner_role);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I, %I', worker_role, result_role);
    EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I, %I', worker_role, result_role);

    -- An installation migrated before these roles existed (by a superuser):
    -- its tables become the migrating role's, so that later migrations may
    -- alter them. These are every table and view the migrations leave or
    -- meet (version 1's, the original app's votes, goose's own); a migration
    -- that adds a table adds it here too (TestRolesOnAnInstalledDatabase in
    -- worker/internal/votedb fails until it does).
    FOR r IN
        SELECT c.oid::regclass AS rel, c.relkind
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace
          AND c.relkind IN ('r', 'p', 'v')
          AND c.relname IN ('goose_db_version', 'polls', 'poll_options', 'ballots', 'votes', 'tally', 'tally_version')
          AND pg_get_userbyid(c.relowner) <> owner_role
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I', CASE r.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, r.rel, owner_role);
    END LOOP;

    -- What the migrating role owns now: the worker reads and writes rows,
    -- the result server reads. Nobody deletes a row (polls and ballots are
    -- never deleted), so neither gets DELETE or TRUNCATE. Revoking first
    -- brings a re-run back to exactly these privileges.
    FOR r IN
        SELECT c.oid::regclass AS rel, c.relkind
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND pg_get_userbyid(c.relowner) = owner_role
    LOOP
        IF r.relkind = 'S' THEN
            EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM %I, %I', r.rel, worker_role, result_role);
            EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', r.rel, worker_role);
        ELSE
            EXECUTE format('REVOKE ALL ON TABLE %s FROM %I, %I', r.rel, worker_role, result_role);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE ON TABLE %s TO %I', r.rel, worker_role);
            EXECUTE format('GRANT SELECT ON TABLE %s TO %I', r.rel, result_role);
        END IF;
    END LOOP;

    -- And the same on what later migrations create.
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public REVOKE ALL ON TABLES FROM %I, %I',
        owner_role, worker_role, result_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public REVOKE ALL ON SEQUENCES FROM %I, %I',
        owner_role, worker_role, result_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES TO %I',
        owner_role, worker_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT USAGE ON SEQUENCES TO %I',
        owner_role, worker_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO %I',
        owner_role, result_role);
END
$roles$;

COMMIT;
