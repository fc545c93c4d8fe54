"""Helm chart search against the ingested chart catalog."""

import pytest

from tools.k8s import search_charts

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("query", "first"),
    [("postgres", "postgresql"), ("mlflow", "mlflow"), ("prometheus", "prometheus"),
     ("redis", "redis")],
)
async def test_common_query_then_obvious_chart_first(adb, ingested, query, first):
    result = await search_charts(adb, query)

    assert result.results[0].name == first


async def test_prometheus_then_upstream_chart_before_bitnami_copy(adb, ingested):
    result = await search_charts(adb, "prometheus")

    top_two = [(h.name, h.repo, h.publisher) for h in result.results[:2]]
    assert top_two == [
        ("prometheus", "prometheus-community/helm-charts", "upstream"),
        ("prometheus", "bitnami/charts", "verified"),
    ]


async def test_vector_database_then_qdrant_and_milvus_lead(adb, ingested):
    result = await search_charts(adb, "vector database")

    assert {h.name for h in result.results[:3]} == {"qdrant", "milvus"}
    assert "query appears in the description" in result.results[0].why


async def test_monitoring_then_prometheus_stack_and_grafana_in_top_five(adb, ingested):
    result = await search_charts(adb, "monitoring")

    names = {h.name for h in result.results[:5]}
    assert {"kube-prometheus-stack", "prometheus", "grafana"} <= names


async def test_multi_word_name_query_then_dashed_name_matches(adb, ingested):
    result = await search_charts(adb, "kube prometheus stack")

    assert result.results[0].name == "kube-prometheus-stack"
    assert result.results[0].tier == 0


async def test_deprecated_chart_then_ranked_after_maintained_ones_and_flagged(adb, ingested):
    result = await search_charts(adb, "nginx", top_k=10)

    names = [h.name for h in result.results]
    deprecated = result.results[names.index("nginx-ingress-controller")]
    assert deprecated.deprecated and "DEPRECATED: ranked last" in deprecated.why
    assert all(not h.deprecated for h in result.results[: names.index(deprecated.name)])
    assert names[0] == "nginx"


async def test_hit_then_carries_version_app_version_description_repo_and_why(adb, ingested):
    result = await search_charts(adb, "qdrant", top_k=1)

    hit = result.results[0]
    assert (hit.name, hit.repo) == ("qdrant", "qdrant/qdrant-helm")
    assert hit.version and hit.app_version and hit.description and hit.why


@pytest.mark.parametrize("query", ["%", "_", "%%%%", "\\"])
async def test_like_wildcards_then_taken_literally_and_nothing_matches(adb, ingested, query):
    result = await search_charts(adb, query)

    assert result.results == []


@pytest.mark.parametrize(
    "query", ["'; drop table k8s.charts; --", "' or '1'='1", "redis' union select 1 --"]
)
async def test_sql_injection_text_then_treated_as_words_and_table_intact(
    adb, db, ingested, query
):
    result = await search_charts(adb, query, top_k=50)

    assert len(result.results) < 10
    assert db.execute("select count(*) as n from k8s.charts").fetchone()["n"] == 140
