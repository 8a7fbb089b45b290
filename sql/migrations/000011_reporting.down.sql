ALTER DEFAULT PRIVILEGES IN SCHEMA reporting REVOKE SELECT ON TABLES FROM bespin_reporting;
REVOKE ALL ON SCHEMA reporting FROM bespin_reporting;
DROP SCHEMA reporting CASCADE;
-- The role is cluster-wide: drop it only when no other database uses it.
DO $$
BEGIN
    DROP ROLE IF EXISTS bespin_reporting;
EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE NOTICE 'bespin_reporting is still used by another database; kept';
END
$$;
