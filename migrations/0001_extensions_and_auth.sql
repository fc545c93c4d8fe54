-- Extensions, and a Supabase-compatible auth surface where none exists (embedded Postgres).
create extension if not exists vector;

-- On Supabase the auth schema, auth.uid() and the authenticated role already exist; elsewhere we
-- create the same names so that policies read identically in both places.
do $$
begin
    if not exists (select 1 from pg_namespace where nspname = 'auth') then
        execute 'create schema auth';
        -- Supabase's definition: the user id is the "sub" claim of the request's JWT claims.
        execute $fn$
            create function auth.uid() returns uuid
            language sql stable
            as 'select coalesce(
                    nullif(current_setting(''request.jwt.claim.sub'', true), ''''),
                    (nullif(current_setting(''request.jwt.claims'', true), '''')::jsonb ->> ''sub'')
                )::uuid'
        $fn$;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticated') then
        -- nologin + nobypassrls: the app connects as itself and `set local role authenticated`.
        execute 'create role authenticated nologin nobypassrls';
    end if;
end
$$;

grant usage on schema auth to authenticated;
