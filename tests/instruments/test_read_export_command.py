"""`manage.py read_export`: prints what the parser read; parse errors exit with 1."""

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .synthetic import BIORAD_CFX, LC480_ROWS, LC480_SAMPLE_INFO, lc480

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> str:
    out = StringIO()
    call_command("read_export", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def lc480_file(tmp_path):
    path = tmp_path / "plate.txt"
    path.write_bytes(lc480(LC480_ROWS).encode("utf-16"))
    return path


def test_text_output_lists_every_well(lc480_file):
    output = run(str(lc480_file))
    assert "Instrument: Roche LightCycler 480" in output
    assert "Format: lc480" in output
    assert "Plate size: 96" in output
    assert "Wells: 4 (1 without Cq)" in output
    assert "Metadata: experiment = miR-21 serum" in output
    assert "-\tA1\tS-001 miR-21\t\tSYBR Green I / HRM Dye (483-533)\t22.78\t" in output
    assert (
        "-\tA2\tS-001 miR-21\t\tSYBR Green I / HRM Dye (483-533)\tundetermined\tundetermined"
        in (output)
    )
    assert output.rstrip().endswith("31.05\texcluded_in_file")


def test_json_output(tmp_path):
    path = tmp_path / "cfx.csv"
    path.write_text(BIORAD_CFX)
    result = json.loads(run(str(path), "--json"))
    assert set(result) == {"format", "instrument", "plate_size", "metadata", "warnings", "wells"}
    assert (result["format"], result["instrument"], result["plate_size"]) == (
        "biorad_cfx",
        "Bio-Rad CFX",
        384,
    )
    assert result["wells"][0] == {
        "position": "A1",
        "sample_name": "S-001",
        "target": "miR-21",
        "cq": 21.1877528266099,
        "run": "",
        "dye": "FAM",
        "flags": [],
        "line": 2,
    }
    assert result["wells"][2]["cq"] is None
    assert result["wells"][2]["flags"] == ["undetermined"]


def test_layout_file_says_it_has_no_cq(tmp_path):
    path = tmp_path / "layout.txt"
    path.write_text(LC480_SAMPLE_INFO)
    output = run(str(path))
    assert "Format: lc480_sample_info" in output
    assert "Warning: plate layout (Sample Information) export" in output
    assert "no Cq (layout)\tlayout_only" in output


def test_format_option_forces_a_parser(lc480_file):
    assert "Format: lc480" in run(str(lc480_file), "--format", "lc480")
    with pytest.raises(CommandError, match="plate.txt: no Bio-Rad CFX"):
        run(str(lc480_file), "--format", "biorad_cfx")


def test_parse_error_is_a_command_error_with_line_and_column(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(lc480(["True\t255\tA1\tS\tabc\t\t0"]))
    with pytest.raises(CommandError) as caught:
        run(str(path))
    assert str(caught.value) == "bad.txt: line 3, column 5: Cp 'abc' is not a number"
    assert caught.value.returncode == 1


def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read .*nope.txt: No such file"):
        run(str(tmp_path / "nope.txt"))


def test_real_export_through_the_command(export_bytes, tmp_path):
    path = tmp_path / "stepone.rdml"
    path.write_bytes(export_bytes("rdml-abi-stepone-std.rdml"))
    result = json.loads(run(str(path), "--json"))
    assert result["format"] == "rdml"
    assert len(result["wells"]) == 24
    assert result["wells"][0]["cq"] is None
    assert result["wells"][0]["flags"] == ["undetermined", "rdml_nondetect_40"]


def test_command_line_exit_code_is_1_on_a_parse_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    completed = subprocess.run(
        [sys.executable, "manage.py", "read_export", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert "unrecognised export: 'empty.txt' is empty" in completed.stderr
