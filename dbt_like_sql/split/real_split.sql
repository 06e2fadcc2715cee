-- Every staged real row with its side of the train/holdout split. A row goes to the holdout when a hash of
-- its key, salted with the plan's seed, falls below holdout.fraction. The key is the plan's
-- holdout.key_columns, or the whole row when none are set. The split depends on row content only, so it
-- survives re-ingestion and reordering, and rows sharing a key always land on the same side.
WITH keyed AS (
    SELECT
        staged.*,
        md5(
            getvariable('split_seed')
            || CAST(row(*COLUMNS(
                lambda c: len(getvariable('split_key')) = 0 OR list_contains(getvariable('split_key'), c)
            )) AS VARCHAR)
        ) AS _split_digest,
        md5(CAST(staged AS VARCHAR)) AS _row_digest
    FROM stg_real AS staged
)
SELECT
    * EXCLUDE (_split_digest),
    -- the first 32 bits of the digest, read as a number in [0, 1)
    ('0x' || substr(_split_digest, 1, 8))::UBIGINT / 4294967296.0 AS _split_hash,
    _split_hash < getvariable('holdout_fraction') AS _in_holdout
FROM keyed
