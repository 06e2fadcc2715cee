"""The compiled exhaustive nearest-row search behind hybrid_data.privacy (numba; imported only when searching).

Exact, and fast because of two lower bounds that skip rows which cannot be nearer than the k-th best so far:
- groups: a categorical mismatch costs 1, so a reference row that differs from the query in m of the grouping
  columns is at least m away (squared Euclidean and L1 Gower sums alike). Reference rows are sorted into groups
  by the lower-cardinality categorical columns; each query scans its own group first, then only the groups
  whose mismatch count is below its current k-th best.
- leaves: within a group, rows are sorted by the other categorical columns and cut into leaves of consecutive
  rows; a leaf is skipped when the distance from the query to the leaf's box (each number's range in the leaf,
  each categorical column the leaf holds a single value of) is already no better.
Near rows almost always share most categories, so a query touches a few hundred rows of 100k; a query with no
close row falls back to more. Every comparison is direct (no |x|^2 - 2xy + |y|^2 expansion), so distances have
no float cancellation; sums are float32 (at most p terms in [0, 2]: rounding far below 1e-5).
"""

import numba
import numpy as np

BLOCK = 2048


@numba.njit(fastmath=True, nogil=True, inline="always")
def _scan(i, q_num, q_cat, r_num_t, r_cat_t, begin, end, power, dist, rows, best, where):  # pragma: no cover
    """Reference rows begin..end into the query's running k best. Categories first: a row whose mismatches
    alone reach the k-th best cannot enter, so numbers are summed only for the rows left (all of them, in
    vectorised passes, when most are left; else row by row over the survivors)."""
    k = best.shape[1]
    n_num, n_cat = q_num.shape[1], q_cat.shape[1]
    for start in range(begin, end, BLOCK):
        size = min(BLOCK, end - start)
        for j in range(size):
            dist[j] = 0.0
        c = 0
        while c + 2 <= n_cat:
            code0, code1 = q_cat[i, c], q_cat[i, c + 1]
            codes0 = r_cat_t[c, start : start + size]
            codes1 = r_cat_t[c + 1, start : start + size]
            for j in range(size):
                dist[j] += np.float32(codes0[j] != code0) + np.float32(codes1[j] != code1)
            c += 2
        for rest in range(c, n_cat):
            code = q_cat[i, rest]
            codes = r_cat_t[rest, start : start + size]
            for j in range(size):
                dist[j] += np.float32(codes[j] != code)
        bound = best[i, k - 1]
        left = 0
        for j in range(size):
            if dist[j] < bound:
                rows[left] = j
                left += 1
        if left == 0:
            continue
        if 2 * left < size:
            for t in range(left):
                j = rows[t]
                total = dist[j]
                for c in range(n_num):
                    delta = q_num[i, c] - r_num_t[c, start + j]
                    total += delta * delta if power == 2 else abs(delta)
                dist[j] = total
        else:
            left = size
            for j in range(size):
                rows[j] = j
            # Four numeric columns per pass over the block: the running sums are read and written a quarter as
            # often (the loop is bound by memory traffic, not arithmetic).
            c = 0
            while c + 4 <= n_num:
                v0, v1, v2, v3 = q_num[i, c], q_num[i, c + 1], q_num[i, c + 2], q_num[i, c + 3]
                r0 = r_num_t[c, start : start + size]
                r1 = r_num_t[c + 1, start : start + size]
                r2 = r_num_t[c + 2, start : start + size]
                r3 = r_num_t[c + 3, start : start + size]
                if power == 2:
                    for j in range(size):
                        d0, d1, d2, d3 = v0 - r0[j], v1 - r1[j], v2 - r2[j], v3 - r3[j]
                        dist[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
                else:
                    for j in range(size):
                        dist[j] += (abs(v0 - r0[j]) + abs(v1 - r1[j])) + (abs(v2 - r2[j]) + abs(v3 - r3[j]))
                c += 4
            for rest in range(c, n_num):
                value = q_num[i, rest]
                row = r_num_t[rest, start : start + size]
                if power == 2:
                    for j in range(size):
                        delta = value - row[j]
                        dist[j] += delta * delta
                else:
                    for j in range(size):
                        dist[j] += abs(value - row[j])
        for t in range(left):
            j = rows[t]
            d = dist[j]
            if d < best[i, k - 1]:
                slot = k - 1
                while slot > 0 and best[i, slot - 1] > d:
                    best[i, slot] = best[i, slot - 1]
                    where[i, slot] = where[i, slot - 1]
                    slot -= 1
                best[i, slot] = d
                where[i, slot] = start + j


@numba.njit(fastmath=True, nogil=True, inline="always")
def _lower_bound(i, q_num, q_cat, leaf, leaf_low, leaf_high, leaf_code, power):  # pragma: no cover
    """No row of the leaf is nearer than this: each number's distance to the leaf's range of that column, plus
    1 for each categorical column the leaf holds one value of, other than the query's."""
    bound = np.float32(0.0)
    for c in range(q_num.shape[1]):
        value = q_num[i, c]
        gap = max(leaf_low[leaf, c] - value, value - leaf_high[leaf, c], np.float32(0.0))
        bound += gap * gap if power == 2 else gap
    for c in range(q_cat.shape[1]):
        code = leaf_code[leaf, c]
        if code >= 0 and code != q_cat[i, c]:
            bound += np.float32(1.0)
    return bound


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def search(
    q_num,
    q_cat,
    key_start,
    key_codes,
    key_order,
    r_num_t,
    r_cat_t,
    group_keys,
    group_leaves,
    leaf_start,
    leaf_low,
    leaf_high,
    leaf_code,
    k,
    power,
):  # pragma: no cover
    """Squared (power 2) or L1 (power 1) Gower sums to the k nearest references and their rows (in the grouped
    order). Queries come sorted by their grouping key: queries key_start[u] to key_start[u + 1] share the codes
    key_codes[u], so the groups are ranked by mismatches once per key, not once per query; keys are taken in
    `key_order` (shuffled, so that the threads' equal shares of keys hold about as many queries). References come
    transposed (columns x rows), sorted by group and cut into leaves of consecutive rows: group g holds leaves
    group_leaves[g] to group_leaves[g + 1], leaf l rows leaf_start[l] to leaf_start[l + 1]; `leaf_low` and
    `leaf_high` (leaves x numeric columns) are each leaf's ranges, `leaf_code` (leaves x categorical columns)
    its one value of a column or -1; `group_keys` (groups x grouping columns) each group's codes."""
    n_queries, n_groups, n_keys = q_num.shape[0], group_keys.shape[0], key_codes.shape[0]
    width = group_keys.shape[1]
    best = np.full((n_queries, k), np.inf)
    where = np.full((n_queries, k), -1, dtype=np.int64)
    for t in numba.prange(n_keys):
        u = key_order[t]
        dist = np.empty(BLOCK, dtype=np.float32)
        rows = np.empty(BLOCK, dtype=np.int64)
        mismatches = np.zeros(n_groups, dtype=np.int64)
        per_level = np.zeros(width + 2, dtype=np.int64)
        for g in range(n_groups):
            for c in range(width):
                if group_keys[g, c] != key_codes[u, c]:
                    mismatches[g] += 1
            per_level[mismatches[g] + 1] += 1
        for level in range(width + 1):  # groups ranked by mismatches (a counting sort, stable)
            per_level[level + 1] += per_level[level]
        ranked = np.empty(n_groups, dtype=np.int64)
        for g in range(n_groups):
            ranked[per_level[mismatches[g]]] = g
            per_level[mismatches[g]] += 1
        for i in range(key_start[u], key_start[u + 1]):
            for g in ranked:
                if mismatches[g] > 0 and mismatches[g] >= best[i, k - 1]:
                    break
                for leaf in range(group_leaves[g], group_leaves[g + 1]):
                    if _lower_bound(i, q_num, q_cat, leaf, leaf_low, leaf_high, leaf_code, power) >= best[i, k - 1]:
                        continue
                    _scan(
                        i,
                        q_num,
                        q_cat,
                        r_num_t,
                        r_cat_t,
                        leaf_start[leaf],
                        leaf_start[leaf + 1],
                        power,
                        dist,
                        rows,
                        best,
                        where,
                    )
    return best, where


EQ, NE, GT, LT, GE, LE, IS_NULL, NOT_NULL = range(8)


COUNT_BLOCK = 4096  # rows a query's predicates are applied to at once (a buffer that stays in L1 cache)


@numba.njit(fastmath=False, nogil=True, inline="always")
def _narrow(match, values, nulls, op, threshold):  # pragma: no cover - compiled
    """match &= the predicate, over one block. Nulls are NaN in `values`, and NaN compares false, so only
    `!=` and the null tests read `nulls`; each branch is a plain loop the compiler vectorizes."""
    size = match.shape[0]
    if op == EQ:
        for i in range(size):
            match[i] &= values[i] == threshold
    elif op == GT:
        for i in range(size):
            match[i] &= values[i] > threshold
    elif op == LT:
        for i in range(size):
            match[i] &= values[i] < threshold
    elif op == GE:
        for i in range(size):
            match[i] &= values[i] >= threshold
    elif op == LE:
        for i in range(size):
            match[i] &= values[i] <= threshold
    elif op == NE:
        for i in range(size):
            match[i] &= (values[i] != threshold) & ~nulls[i]
    elif op == IS_NULL:
        for i in range(size):
            match[i] &= nulls[i]
    else:  # NOT_NULL
        for i in range(size):
            match[i] &= ~nulls[i]


@numba.njit(parallel=True, cache=True, nogil=True)
def count_matches(values, nulls, columns, ops, thresholds, widths, stop_at):  # pragma: no cover - compiled
    """Rows matching each conjunctive query, counted up to `stop_at` (singling out only asks "exactly one?").
    Query q has `widths[q]` predicates: column `columns[q, p]`, operator `ops[q, p]`, value `thresholds[q, p]`;
    a null matches only IS_NULL and NOT_NULL's complement, as in SQL and polars. `values` (nulls as NaN) and
    `nulls` hold a column per row (`values[column, row]`): a query's predicates narrow a block of rows at a
    time, each reading its column as one contiguous stream, and the count stops at the first block that
    reaches `stop_at`."""
    n_rows, n_queries = values.shape[1], columns.shape[0]
    counts = np.zeros(n_queries, dtype=np.int64)
    for q in numba.prange(n_queries):
        match = np.empty(COUNT_BLOCK, dtype=np.bool_)
        found = 0
        for begin in range(0, n_rows, COUNT_BLOCK):
            end = min(begin + COUNT_BLOCK, n_rows)
            block = match[: end - begin]
            block[:] = True
            for p in range(widths[q]):
                column = columns[q, p]
                _narrow(block, values[column, begin:end], nulls[column, begin:end], ops[q, p], thresholds[q, p])
            for i in range(end - begin):
                found += block[i]
            if found >= stop_at:
                break
        counts[q] = min(found, stop_at)
    return counts
