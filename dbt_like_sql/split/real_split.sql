-- Every staged real row with its side of the split. A row goes to the holdout when a hash of its content
-- (salted by the plan's seed) falls below the holdout fraction: the split survives re-ingestion and
-- reordering, and identical rows always land on the same side.
WITH hashed AS (
    SELECT
        s.*,
        ('0x' || substr(md5(getvariable('split_seed') || CAST(s AS VARCHAR)), 1, 8))::UBIGINT / 4294967296.0
            AS _split_hash
    FROM stg_real AS s
)
SELECT
    *,
    _split_hash < getvariable('holdout_fraction') AS _in_holdout
FROM hashed
