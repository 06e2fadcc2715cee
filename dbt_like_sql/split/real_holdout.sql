-- Real rows kept out of every fit: models are scored on these and nothing trains on them. Same columns
-- and stable order as real_train.
SELECT * EXCLUDE (_split_hash, _row_digest, _in_holdout)
FROM real_split
WHERE _in_holdout
ORDER BY _split_hash, _row_digest
