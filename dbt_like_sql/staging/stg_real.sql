-- The real rows, deduplicated: identical rows would otherwise weigh twice in every fit and could
-- straddle the train/holdout split.
SELECT DISTINCT *
FROM real_source
