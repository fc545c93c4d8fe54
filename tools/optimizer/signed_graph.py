"""Step 3, graph: a signed graph over units, similarity edges plus contradiction edges.

Positive edges join each unit to its ``k`` most similar units (cosine of unit vectors,
symmetrised: an edge exists when either end picks the other), which keeps the graph sparse
(at most ``n * k`` edges) however long the chat. Negative edges join contradicting units and
replace any similarity edge between the same pair: two statements of a budget are similar
in wording precisely because they disagree about the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

# A kNN edge whose cosine is not positive still says "nearest", so it is kept, barely.
MIN_EDGE_WEIGHT = 1e-6


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """Return pairwise cosine similarities of unit-length rows (float32, n × n)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return np.asarray(vectors @ vectors.T, dtype=np.float32)


def knn_graph(similarity: np.ndarray, k: int) -> sp.csr_matrix:
    """Return the symmetric kNN graph of a similarity matrix.

    Args:
        similarity: Dense ``n × n`` similarities.
        k: Neighbours per node (capped at ``n - 1``).

    Returns:
        A CSR matrix with ``W[i, j] = max(similarity[i, j], MIN_EDGE_WEIGHT)`` where ``j`` is
        among the ``k`` nearest of ``i`` or the other way round, and zeros elsewhere.

    """
    n = similarity.shape[0]
    k = min(k, n - 1)
    if n < 2 or k < 1:
        return sp.csr_matrix((n, n), dtype=np.float64)
    sims = np.array(similarity, dtype=np.float32, copy=True)
    np.fill_diagonal(sims, -np.inf)
    neighbours = np.argpartition(sims, n - k, axis=1)[:, n - k :]
    rows = np.repeat(np.arange(n), k)
    cols = neighbours.ravel()
    weights = np.maximum(sims[rows, cols].astype(np.float64), MIN_EDGE_WEIGHT)
    directed = sp.csr_matrix((weights, (rows, cols)), shape=(n, n))
    return directed.maximum(directed.T).tocsr()


def signed_adjacency(
    positive: sp.csr_matrix, negatives: Iterable[tuple[int, int, float]]
) -> sp.csr_matrix:
    """Add contradiction edges to a similarity graph.

    Args:
        positive: Symmetric non-negative weights.
        negatives: ``(i, j, strength)`` with strength in (0, 1]; the pair gets ``-strength``
            in place of any positive weight (the strongest contradiction wins on repeats).

    Returns:
        The symmetric signed adjacency matrix.

    """
    n = positive.shape[0]
    negative: dict[tuple[int, int], float] = {}
    for i, j, strength in negatives:
        if i == j:
            continue
        key = (min(i, j), max(i, j))
        negative[key] = max(negative.get(key, 0.0), float(strength))
    coo = positive.tocoo()
    if not negative:
        return positive.tocsr()
    pairs = np.array(list(negative), dtype=np.int64)
    strengths = -np.array(list(negative.values()), dtype=np.float64)
    # Pair codes min*n+max find the similarity edges that a contradiction replaces.
    codes = np.minimum(coo.row, coo.col).astype(np.int64) * n + np.maximum(coo.row, coo.col)
    keep = ~np.isin(codes, pairs[:, 0] * n + pairs[:, 1])
    rows = np.concatenate([coo.row[keep], pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([coo.col[keep], pairs[:, 1], pairs[:, 0]])
    data = np.concatenate([coo.data[keep], strengths, strengths])
    return sp.csr_matrix((data, (rows, cols)), shape=(n, n))
