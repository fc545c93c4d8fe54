"""Step 4, spectral analysis: clusters, centrality and a stability index.

- Normalised Laplacian ``L = I - D^-1/2 W D^-1/2`` of the similarity graph. Its smallest
  eigenvalues are ``1 -`` the largest of the normalised adjacency ``N = D^-1/2 W D^-1/2``,
  which is how they are computed: a dense symmetric solver on small graphs, and Lanczos
  (``scipy.sparse.linalg.eigsh``) on the sparse ``N`` above ``DENSE_MAX_NODES``, so 1,000
  units never pay for a full O(n³) decomposition. Only ``k_max + 1`` pairs are ever asked for.
  The threshold is low on purpose: at 200 nodes both take about 2 ms on an idle machine, but
  multithreaded LAPACK slows to 10-50 ms when the CPUs are shared, and Lanczos does not.
- ``k`` is the eigengap: the ``i`` in ``1..k_max`` with the largest ``λ_i − λ_{i−1}``
  (``c`` disconnected clusters give ``c`` zero eigenvalues, then a jump).
- Clusters: k-means on the rows of the first ``k`` eigenvectors, each scaled to unit length
  (Ng, Jordan and Weiss), seeded so that the same chat gives the same clusters.
- Centrality: PageRank on the similarity graph (well defined when it is disconnected).
- Stability index: ``1 − λ_min`` of the normalised signed Laplacian
  ``I − D̄^-1/2 A D̄^-1/2`` with ``D̄ = Σ|A|``. ``λ_min`` is 0 exactly when the signed graph
  is balanced (no cycle with an odd number of contradictions), and grows with the weight of
  contradictions that sit among otherwise similar units, so 1.0 means "nothing in this
  context disagrees" and lower means "more contradictory".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.cluster.vq import kmeans2
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh

logger = logging.getLogger(__name__)

DENSE_MAX_NODES = 64
DEFAULT_K_MAX = 10


@dataclass(frozen=True)
class SpectralResult:
    """What the spectrum says about the conversation."""

    labels: np.ndarray
    """Cluster of each unit, ``0 .. k-1``."""
    k: int
    eigenvalues: np.ndarray
    """The smallest eigenvalues of the normalised Laplacian, ascending."""
    centrality: np.ndarray
    """PageRank of each unit (sums to 1)."""
    stability: float
    """1 − λ_min of the normalised signed Laplacian, in [0, 1]."""
    method: str
    """``dense`` or ``eigsh``: which eigensolver ran."""


def _scale(matrix: sp.csr_matrix, weights_abs: bool) -> sp.csr_matrix:
    degree = np.asarray(abs(matrix).sum(axis=1) if weights_abs else matrix.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    nonzero = degree > 0
    inv_sqrt[nonzero] = 1.0 / np.sqrt(degree[nonzero])
    d = sp.diags(inv_sqrt)
    return (d @ matrix @ d).tocsr()


def normalized_laplacian(weights: sp.csr_matrix) -> sp.csr_matrix:
    """Return ``I − D^-1/2 W D^-1/2`` (an isolated node keeps a 1 on the diagonal)."""
    n = weights.shape[0]
    return (sp.identity(n, format="csr") - _scale(weights, weights_abs=False)).tocsr()


def signed_laplacian(adjacency: sp.csr_matrix) -> sp.csr_matrix:
    """Return the normalised signed Laplacian ``I − D̄^-1/2 A D̄^-1/2`` with ``D̄ = Σ|A|``."""
    n = adjacency.shape[0]
    return (sp.identity(n, format="csr") - _scale(adjacency, weights_abs=True)).tocsr()


def _largest(matrix: sp.csr_matrix, count: int, dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``count`` largest eigenpairs of a symmetric matrix, descending."""
    n = matrix.shape[0]
    if not dense:
        # A fixed start vector: the same graph always gives the same eigenvectors.
        v0 = np.random.default_rng(0).standard_normal(n)
        try:
            values, vectors = eigsh(matrix, k=count, which="LA", v0=v0, tol=1e-5, maxiter=n * 20)
            order = np.argsort(values)[::-1]
            return values[order], vectors[:, order]
        except (ArpackNoConvergence, ArpackError):
            logger.warning("eigsh did not converge on %d nodes; using the dense solver", n)
    values, vectors = scipy.linalg.eigh(matrix.toarray(), subset_by_index=[n - count, n - 1])
    return values[::-1], vectors[:, ::-1]


def laplacian_spectrum(
    weights: sp.csr_matrix, count: int, *, dense: bool | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Return the ``count`` smallest eigenpairs of the normalised Laplacian, ascending.

    Args:
        weights: Symmetric non-negative similarity weights.
        count: How many pairs; capped at ``n - 1`` for the sparse solver.
        dense: Force the dense (True) or sparse (False) solver; by default dense up to
            ``DENSE_MAX_NODES`` nodes.

    Returns:
        Eigenvalues, eigenvectors (as columns) and the solver used.

    """
    n = weights.shape[0]
    use_dense = n <= DENSE_MAX_NODES if dense is None else dense
    count = min(count, n if use_dense else n - 1)
    values, vectors = _largest(_scale(weights, weights_abs=False), count, use_dense)
    return 1.0 - values, vectors, "dense" if use_dense else "eigsh"


def eigengap_k(eigenvalues: np.ndarray, k_max: int) -> int:
    """Return the ``i`` in ``1..k_max`` with the largest gap ``λ_i − λ_{i−1}``."""
    values = np.sort(np.asarray(eigenvalues, dtype=np.float64))[: k_max + 1]
    if values.size < 2:
        return 1
    return int(np.argmax(np.diff(values))) + 1


def spectral_clusters(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Cluster nodes by k-means on their normalised spectral embedding."""
    n = vectors.shape[0]
    if k <= 1 or n <= k:
        return np.zeros(n, dtype=np.int64) if k <= 1 else np.arange(n, dtype=np.int64)
    embedding = vectors[:, :k].astype(np.float64)
    norms = np.linalg.norm(embedding, axis=1, keepdims=True)
    embedding = embedding / np.where(norms == 0, 1.0, norms)
    _, labels = kmeans2(embedding, k, minit="++", seed=np.random.default_rng(seed))
    # Renumber by first appearance so that labels read in conversation order.
    _, first = np.unique(labels, return_index=True)
    remap = {int(labels[i]): rank for rank, i in enumerate(sorted(first))}
    return np.array([remap[int(x)] for x in labels], dtype=np.int64)


def pagerank(
    weights: sp.csr_matrix, damping: float = 0.85, tol: float = 1e-6, max_iter: int = 200
) -> np.ndarray:
    """Return PageRank scores of a weighted undirected graph (dangling mass spread evenly)."""
    n = weights.shape[0]
    if n == 0:
        return np.zeros(0)
    degree = np.asarray(weights.sum(axis=1)).ravel()
    dangling = degree == 0
    inv = np.zeros(n)
    inv[~dangling] = 1.0 / degree[~dangling]
    transition = (sp.diags(inv) @ weights).T.tocsr()  # column-stochastic on non-dangling nodes
    rank = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        spread = rank[dangling].sum() / n
        new = damping * (transition @ rank + spread) + (1.0 - damping) / n
        if np.abs(new - rank).sum() < tol:
            return np.asarray(new)
        rank = new
    return rank


def stability_index(adjacency: sp.csr_matrix, *, dense: bool | None = None) -> float:
    """Return ``1 − λ_min`` of the normalised signed Laplacian, clipped to [0, 1].

    ``λ_min`` is taken per connected component that holds a contradiction, and the most
    contradictory component decides: a balanced component elsewhere (a λ of 0) must not
    hide a contradiction here.
    """
    n = adjacency.shape[0]
    if n == 0 or adjacency.nnz == 0 or (adjacency.data >= 0).all():
        return 1.0  # no negative edge: balanced by definition, and no eigensolve needed
    _, component = connected_components(abs(adjacency), directed=False)
    coo = adjacency.tocoo()
    touched = np.unique(component[coo.row[coo.data < 0]])
    stability = 1.0
    for label in touched:
        nodes = np.flatnonzero(component == label)
        block = adjacency[nodes][:, nodes].tocsr()
        use_dense = len(nodes) <= DENSE_MAX_NODES if dense is None else dense
        values, _ = _largest(_scale(block, weights_abs=True), 1, use_dense or len(nodes) < 3)
        stability = min(stability, float(values[0]))
    return float(np.clip(stability, 0.0, 1.0))


def analyze(
    weights: sp.csr_matrix,
    signed: sp.csr_matrix,
    *,
    k_max: int = DEFAULT_K_MAX,
    seed: int = 0,
    dense: bool | None = None,
) -> SpectralResult:
    """Run the whole spectral step on a similarity graph and its signed version."""
    n = weights.shape[0]
    if n < 3:
        return SpectralResult(
            np.zeros(n, dtype=np.int64), 1, np.zeros(n), np.full(n, 1.0 / max(n, 1)), 1.0, "none"
        )
    k_max = min(k_max, n - 2)
    values, vectors, method = laplacian_spectrum(weights, k_max + 1, dense=dense)
    k = eigengap_k(values, k_max)
    return SpectralResult(
        labels=spectral_clusters(vectors, k, seed),
        k=k,
        eigenvalues=values,
        centrality=pagerank(weights),
        stability=stability_index(signed, dense=dense),
        method=method,
    )
