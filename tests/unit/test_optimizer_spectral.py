import numpy as np
import pytest
import scipy.sparse as sp

from tools.optimizer.signed_graph import cosine_matrix, knn_graph, signed_adjacency
from tools.optimizer.spectral import (
    analyze,
    eigengap_k,
    laplacian_spectrum,
    normalized_laplacian,
    pagerank,
    stability_index,
)


def cliques(*sizes: int) -> sp.csr_matrix:
    """Disconnected complete graphs of the given sizes, unit weights."""
    blocks = [np.ones((n, n)) - np.eye(n) for n in sizes]
    return sp.csr_matrix(sp.block_diag(blocks))


@pytest.mark.parametrize("dense", [True, False])
def test_eigengap_when_two_disconnected_cliques_then_k_is_two(dense):
    weights = cliques(5, 6)

    values, _, _ = laplacian_spectrum(weights, 6, dense=dense)

    assert eigengap_k(values, 5) == 2
    np.testing.assert_allclose(values[:2], 0.0, atol=1e-6)


def test_analyze_when_two_cliques_then_clusters_follow_the_cliques():
    weights = cliques(5, 6)

    result = analyze(weights, weights, k_max=5)

    assert result.k == 2
    assert len(set(result.labels[:5])) == 1 and len(set(result.labels[5:])) == 1
    assert result.labels[0] != result.labels[5]


def test_eigengap_when_three_cliques_then_k_is_three():
    values, _, _ = laplacian_spectrum(cliques(4, 4, 4), 6, dense=True)

    assert eigengap_k(values, 5) == 3


def test_normalized_laplacian_then_smallest_eigenvalue_zero_and_all_within_zero_two():
    laplacian = normalized_laplacian(cliques(4, 3)).toarray()

    values = np.linalg.eigvalsh(laplacian)

    assert values.min() == pytest.approx(0.0, abs=1e-9)
    assert values.max() <= 2.0 + 1e-9


def test_stability_when_no_negative_edge_then_one():
    assert stability_index(cliques(4, 4)) == 1.0


def test_stability_when_negative_edge_inside_a_clique_then_lower_than_without():
    weights = cliques(4, 4)
    signed = signed_adjacency(weights, [(0, 1, 1.0)])

    with_contradiction = stability_index(signed)

    assert with_contradiction < stability_index(weights) - 0.1


def test_stability_when_contradiction_stronger_then_lower():
    weights = cliques(5)

    weak = stability_index(signed_adjacency(weights, [(0, 1, 0.2)]))
    strong = stability_index(signed_adjacency(weights, [(0, 1, 1.0)]))

    assert strong < weak < 1.0


@pytest.mark.parametrize("dense", [True, False])
def test_stability_when_solver_changes_then_same_value(dense):
    signed = signed_adjacency(cliques(6, 5), [(0, 1, 1.0), (6, 7, 0.5)])

    assert stability_index(signed, dense=dense) == pytest.approx(
        stability_index(signed, dense=True), abs=1e-6
    )


def test_signed_adjacency_when_contradiction_then_it_replaces_the_similarity_edge():
    weights = cliques(3)

    signed = signed_adjacency(weights, [(0, 2, 0.8)]).toarray()

    assert signed[0, 2] == signed[2, 0] == -0.8
    assert signed[0, 1] == 1.0


def test_knn_graph_then_symmetric_and_each_node_linked_to_its_nearest():
    vectors = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.1, 0.99]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    graph = knn_graph(cosine_matrix(vectors), k=1).toarray()

    np.testing.assert_array_equal(graph, graph.T)
    assert graph[0, 1] > 0.9 and graph[2, 3] > 0.9
    assert graph[0, 2] == 0.0


def test_laplacian_spectrum_when_sparse_solver_then_matches_dense_on_a_random_knn_graph():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((120, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    weights = knn_graph(cosine_matrix(vectors), k=8)

    dense, _, _ = laplacian_spectrum(weights, 6, dense=True)
    sparse, _, method = laplacian_spectrum(weights, 6, dense=False)

    assert method == "eigsh"
    np.testing.assert_allclose(sparse, dense, atol=1e-5)


def test_pagerank_then_sums_to_one_and_the_hub_ranks_first():
    star = sp.csr_matrix(np.array([[0, 1, 1, 1], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]))

    rank = pagerank(star)

    assert rank.sum() == pytest.approx(1.0)
    assert int(np.argmax(rank)) == 0
