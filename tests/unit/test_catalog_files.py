import pytest

from core.catalog_files import DATA_DIR, GPUS, INSTANCES, CatalogFileError, parse_catalog

GPUS_PATH = DATA_DIR / "gpus.csv"
HEADER = ",".join(INSTANCES.column_names)


def _write(tmp_path, *lines):
    path = tmp_path / "instances.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parse_when_rows_are_valid_then_typed_values_and_cpu_defaults():
    path_rows = parse_catalog(GPUS, GPUS_PATH).rows

    h100 = next(r for r in path_rows if r["gpu_model"] == "H100")
    assert h100["memory_gb"] == 80 and h100["memory_bandwidth_gbps"] > 3000


def test_parse_when_gpu_columns_blank_then_zero_gpus(tmp_path):
    path = _write(tmp_path, HEADER, "aws,m7i.large,us-east-1,2,8,,,,0.1008,0.03,,src")

    row = parse_catalog(INSTANCES, path).rows[0]

    assert row["gpu_count"] == 0.0 and row["gpu_memory_gb_total"] == 0.0
    assert row["gpu_model"] is None


@pytest.mark.parametrize(
    ("line", "column", "fragment"),
    [
        ("aws,x,us-east-1,2,8,,,,-1,,,src", "price_hourly_usd", "below 0"),
        ("aws,x,us-east-1,2,8,,,,abc,,,src", "price_hourly_usd", "'abc'"),
        (",x,us-east-1,2,8,,,,1,,,src", "provider", "required"),
    ],
)
def test_parse_when_a_cell_is_bad_then_error_names_line_and_column(
    tmp_path, line, column, fragment
):
    path = _write(tmp_path, HEADER, "aws,ok,us-east-1,2,8,,,,1,,,src", line)

    with pytest.raises(CatalogFileError) as error:
        parse_catalog(INSTANCES, path)

    assert error.value.line == 3 and error.value.column == column
    assert fragment in str(error.value)


def test_parse_when_field_count_wrong_then_error_on_that_line(tmp_path):
    path = _write(tmp_path, HEADER, "aws,ok,us-east-1,2")

    with pytest.raises(CatalogFileError, match=r"instances.csv:2: expected 12 fields, found 4"):
        parse_catalog(INSTANCES, path)


def test_parse_when_key_repeats_then_error_names_both_lines(tmp_path):
    row = "aws,ok,us-east-1,2,8,,,,1,,,src"
    path = _write(tmp_path, HEADER, row, row)

    with pytest.raises(CatalogFileError, match=r"first on line 2"):
        parse_catalog(INSTANCES, path)


def test_parse_when_header_differs_then_missing_columns_named(tmp_path):
    path = _write(tmp_path, HEADER.replace("region,", ""), "aws,ok,2,8,,,,1,,,src")

    with pytest.raises(CatalogFileError, match=r"missing \['region'\]"):
        parse_catalog(INSTANCES, path)


def test_parse_when_bytes_are_not_utf8_then_error_names_line(tmp_path):
    path = tmp_path / "instances.csv"
    path.write_bytes((HEADER + "\n").encode() + b"aws,\xff\xfe,us-east-1,2,8,,,,1,,,src\n")

    with pytest.raises(CatalogFileError, match=r"instances.csv:2: not valid UTF-8"):
        parse_catalog(INSTANCES, path)
