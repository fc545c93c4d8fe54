-- The card chunks as LangChain documents, for langchain-postgres PGVectorStore (tools/hf.py).
-- PGVectorStore needs one id column and takes metadata from named columns; a view gives it
-- both (and the model id, which lives in hf.model_to_card) without changing hf.card_chunks.
-- The view joins, so it is read-only: only ingestion writes the catalog.
create or replace view hf.card_chunk_docs as
select
    mc.model_id || '#' || ch.chunk_index::text || '@' || ch.embedding_model_name
        || '/' || ch.chunker_version as id,
    ch.content,
    ch.embedding,
    mc.model_id,
    ch.card_hash,
    ch.chunk_index,
    ch.heading,
    ch.embedding_model_name,
    ch.chunker_version
from hf.card_chunks ch
join hf.model_to_card mc on mc.card_hash = ch.card_hash;

grant select on hf.card_chunk_docs to authenticated;
