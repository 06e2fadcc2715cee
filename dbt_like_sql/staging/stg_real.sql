-- The staged real rows, each kept once: identical rows would weigh twice in every fit and could straddle
-- the train/holdout split. rows_dropped counts the duplicates removed.
SELECT DISTINCT *
FROM stg_real_usable
