-- Every staged real row with its side of the train/holdout split. A row goes to the holdout when a hash of
-- its key, salted with the plan's seed, falls below holdout.fraction. The key is the plan's
-- holdout.key_columns, or the whole row when none are set. The split depends on row content only, so it
-- survives re-ingestion and reordering, and rows sharing a key always land on the same side.
WITH keyed AS (
    SELECT
        staged.*,
        -- hash of the row's split key salted with the plan's seed (dropped below; _split_hash is read from it)
        md5(
            getvariable('split_seed')
            || CAST(row(*COLUMNS(
                lambda c: len(getvariable('split_key')) = 0 OR list_contains(getvariable('split_key'), c)
            )) AS VARCHAR)
        ) AS _split_digest,
        -- hash of the whole row: breaks ties in the stable row order of real_train and real_holdout
        md5(CAST(staged AS VARCHAR)) AS _row_digest
    FROM stg_real AS staged
)
SELECT
    * EXCLUDE (_split_digest),
    -- the first 32 bits of the split key's salted hash, read as a number in [0, 1)
    ('0x' || substr(_split_digest, 1, 8))::UBIGINT / 4294967296.0 AS _split_hash,
    -- true when the row goes to real_holdout (its _split_hash is below the plan's holdout.fraction)
    _split_hash < getvariable('holdout_fraction') AS _in_holdout
FROM keyed
