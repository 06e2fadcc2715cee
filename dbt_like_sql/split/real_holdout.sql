-- Real rows kept out of every fit: models are scored on these and nothing trains on them.
SELECT * EXCLUDE (_split_hash, _in_holdout)
FROM real_split
WHERE _in_holdout
ORDER BY _split_hash
