from core.embeddings import vector_literal

# Full-text match on the weighted tsvector; among matches, a name closer to the query wins.
CHART_FTS = """
    select name from k8s.charts,
        lateral (select to_tsquery('simple', %(q)s || ':*')
                        || plainto_tsquery('english', %(q)s) as query) q
    where search_tsv @@ q.query
    order by lower(name) = %(q)s desc, lower(name) like %(q)s || '%%' desc, length(name),
             ts_rank(search_tsv, q.query) desc, name
    limit 5
"""

NEAREST_CHUNKS = """
    select m.model_id, ch.embedding <=> %s::vector as distance
    from hf.card_chunks ch join hf.model_to_card m using (card_hash)
    order by ch.embedding <=> %s::vector
    limit 5
"""


def test_weighted_fts_for_postgres_then_postgresql_chart_first(db, ingested):
    rows = db.execute(CHART_FTS, {"q": "postgres"}).fetchall()

    assert rows[0]["name"] == "postgresql"


def test_nearest_chunks_for_text_to_image_then_a_stable_diffusion_model(db, embedder, ingested):
    query = vector_literal(embedder.embed(["text to image generation"])[0])

    rows = db.execute(NEAREST_CHUNKS, (query, query)).fetchall()

    ids = [r["model_id"].lower() for r in rows]
    assert any("stable-diffusion" in model_id for model_id in ids), ids
