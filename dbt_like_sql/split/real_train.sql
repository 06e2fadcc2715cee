-- Real rows that generators and models may learn from: everything outside the holdout, in a stable order.
SELECT * EXCLUDE (_split_hash, _in_holdout)
FROM real_split
WHERE NOT _in_holdout
ORDER BY _split_hash
