-- Real rows that generators and models may learn from: every staged row outside the holdout, with exactly
-- the real source's columns, in a stable order (by split hash, then row digest).
SELECT * EXCLUDE (_split_hash, _row_digest, _in_holdout)
FROM real_split
WHERE NOT _in_holdout
ORDER BY _split_hash, _row_digest
