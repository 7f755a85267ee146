-- people: pseudonymise citizens consistently from their id, and drop the
-- free text of applications, which quotes them.
UPDATE citizens
SET full_name = 'Citizen ' || id,
    email     = 'citizen-' || md5(id::text) || '@example.com',
    address   = id || ' Test Street',
    postcode  = 'ZZ99 ' || (id % 10) || 'ZZ',
    phone     = NULL;
UPDATE applications SET notes = NULL;
