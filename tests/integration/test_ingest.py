import csv
import shutil

import pytest

from core.catalog_files import CATALOG_FILES, DATA_DIR, CatalogFileError
from core.ingest import catalog_counts, ingest

from ..conftest import FIXTURES


def _csv_rows(filename: str) -> int:
    with (DATA_DIR / filename).open(newline="") as handle:
        return sum(1 for row in csv.reader(handle) if row) - 1


EXPECTED_TABLE_FOR_FILE = {
    "instances.csv": "instances",
    "gpus.csv": "gpus",
    "helm_charts.csv": "charts",
    "hf_models.csv": "models",
    "llm_architectures.csv": "architectures",
}


def test_ingest_when_run_twice_then_counts_equal_csv_rows(db, embedder, ingested):
    again = ingest(db, embedder)

    for spec in CATALOG_FILES:
        table = EXPECTED_TABLE_FOR_FILE[spec.filename]
        assert again.counts[table] == _csv_rows(spec.filename), spec.filename
        assert ingested.counts[table] == again.counts[table]
    assert again.counts["cards"] == again.counts["models"]
    assert again.counts["chunks"] >= again.counts["cards"]


def test_ingest_when_a_row_is_malformed_then_rejected_with_line_and_nothing_loaded(
    db, embedder, ingested, tmp_path
):
    source = tmp_path / "data"
    shutil.copytree(DATA_DIR, source)
    # gpus.csv loads first: change a fact there, so a half-way load would show.
    gpus = (source / "gpus.csv").read_text().replace("A10,NVIDIA,24,", "A10,NVIDIA,99,", 1)
    (source / "gpus.csv").write_text(gpus)
    lines = (source / "instances.csv").read_text().splitlines()
    broken_line = 1234
    fields = lines[broken_line - 1].split(",")
    fields[8] = "twelve dollars"  # price_hourly_usd
    lines[broken_line - 1] = ",".join(fields)
    (source / "instances.csv").write_text("\n".join(lines) + "\n")
    before = catalog_counts(db)

    with pytest.raises(CatalogFileError) as error:
        ingest(db, embedder, source=source)

    assert error.value.line == broken_line
    assert error.value.column == "price_hourly_usd"
    assert f"instances.csv:{broken_line}" in str(error.value)
    assert catalog_counts(db) == before
    a10 = db.execute("select memory_gb from cloud.gpus where gpu_model = 'A10'").fetchone()
    assert a10["memory_gb"] == 24


def test_ingest_with_real_cards_then_readme_text_is_chunked_and_searchable(db, embedder, ingested):
    report = ingest(db, embedder, cards_dir=FIXTURES / "cards")

    card = db.execute(
        "select c.source, c.content from hf.model_to_card m join hf.cards c using (card_hash) "
        "where m.model_id = 'acme/tiny-diffusion'"
    ).fetchone()
    model = db.execute(
        "select license, pipeline_tag from hf.models where model_id = 'acme/tiny-diffusion'"
    ).fetchone()
    chunks = db.execute(
        "select content from hf.card_chunks ch join hf.model_to_card m using (card_hash) "
        "where m.model_id = 'acme/sonar-embed'"
    ).fetchall()
    assert card["source"] == "readme" and "watercolor" in card["content"]
    assert model == {"license": "apache-2.0", "pipeline_tag": "text-to-image"}
    assert any("hydrophones" in c["content"] for c in chunks)
    carded = len(list((FIXTURES / "cards").glob("*/*/README.md")))
    assert report.counts["models"] == _csv_rows("hf_models.csv") + carded


def test_ingest_without_cards_dir_then_earlier_readme_cards_are_kept(db, embedder, ingested):
    ingest(db, embedder, cards_dir=FIXTURES / "cards")

    ingest(db, embedder)

    source = db.execute(
        "select c.source from hf.model_to_card m join hf.cards c using (card_hash) "
        "where m.model_id = 'acme/sonar-embed'"
    ).fetchone()
    assert source is not None and source["source"] == "readme"


@pytest.fixture(autouse=True)
def _forget_fixture_cards(db):
    yield
    db.execute("delete from hf.models where model_id like 'acme/%%' or model_id like 'evil/%%'")
    db.execute(
        "delete from hf.cards c where not exists "
        "(select 1 from hf.model_to_card m where m.card_hash = c.card_hash)"
    )
