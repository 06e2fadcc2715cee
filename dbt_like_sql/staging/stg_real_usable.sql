-- The real rows that describe something: a row whose every feature is empty (NULL or blank text) says
-- nothing about a case, yet a generator would learn that blank cases exist. Such rows are dropped here;
-- the materialization's rows_dropped says how many.
SELECT *
FROM real_source
WHERE trim(concat_ws('', *COLUMNS(lambda c: c <> getvariable('target')))) <> ''
