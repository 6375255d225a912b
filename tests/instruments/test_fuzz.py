"""Any input either parses or raises ExportParseError: never IndexError, UnicodeError...

Random bytes, and real or synthetic exports damaged the ways uploads get damaged:
cut short, lines lost or doubled, characters replaced, re-encoded, zips corrupted.
"""

import io
import math
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biobank.instruments import FORMATS, ExportParseError, parse_export
from biobank.instruments.checks import out_of_range
from biobank.instruments.positions import normalise_position
from biobank.instruments.values import cq_in_range

from . import synthetic
from .exports import EXPORTS_DIR

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TEXT_SEEDS = [
    synthetic.lc480(synthetic.LC480_ROWS),
    synthetic.lc480(synthetic.LC480_DECIMAL_COMMA_ROWS, newline="\r", final_newline=False),
    synthetic.LC480_SAMPLE_INFO,
    synthetic.ABI_SDS,
    synthetic.ABI_QUANTSTUDIO,
    synthetic.ABI_7500_CSV,
    synthetic.BIORAD_CFX,
    synthetic.BIORAD_CFX_SEMICOLON,
    synthetic.rdml_xml(reacts=synthetic.RDML_REACTS),
]
REAL_SEEDS = (
    [path.read_bytes() for path in sorted(EXPORTS_DIR.iterdir()) if path.suffix != ".md"]
    if EXPORTS_DIR.is_dir()
    else []
)  # without ../shared the mutation tests still run on the synthetic seeds


def zipped(xml: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("rdml_data.xml", xml)
    return buffer.getvalue()


def parse_or_refuse(parse, data: bytes) -> None:
    """The contract: a sound ParsedExport, or an ExportParseError with a message."""
    try:
        export = parse(data)
    except ExportParseError as error:
        assert str(error)
        return
    assert export.format in FORMATS
    for well in export.wells:
        assert normalise_position(well.position) == well.position
        # Any finite number is read; one outside the one Cq range is named by the
        # check the import preview runs (checks.out_of_range), never stored.
        assert well.cq is None or math.isfinite(well.cq)
        if well.cq is not None and not cq_in_range(well.cq):
            assert any(f"well {well.position}" in m for m in out_of_range([well]))
        assert well.cq is not None or "undetermined" in well.flags or "layout_only" in well.flags
        assert well.line >= 0
    export.runs()


def encodings():
    return st.sampled_from(["utf-8", "utf-16", "utf-16-be", "cp1252", "utf-8-sig"])


@st.composite
def damaged_text(draw, seeds):
    """A text export with a few lines deleted / doubled / characters replaced, encoded."""
    lines = draw(st.sampled_from(seeds)).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for _ in range(draw(st.integers(0, 4))):
        if not lines:
            break
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "replace", "insert"]))
        if action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "insert":
            lines.insert(index, draw(st.text(max_size=40)))
        elif lines[index]:
            at = draw(st.integers(0, len(lines[index]) - 1))
            new = draw(st.sampled_from(["", "\t", ",", ";", '"', "x", "9", ".", "\x00", "Ω", "<"]))
            lines[index] = lines[index][:at] + new + lines[index][at + 1 :]
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data = newline.join(lines).encode(draw(encodings()), errors="replace")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # cut short anywhere
    return data


@st.composite
def damaged_bytes(draw, seeds):
    """Byte-level damage: truncation, flipped bytes, spliced garbage (zips included)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["truncate", "flip", "splice"]))
        if action == "truncate":
            del data[at:]
        elif action == "flip":
            data[at] = draw(st.integers(0, 255))
        else:
            data[at:at] = draw(st.binary(max_size=16))
    return bytes(data)


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from(["auto", *FORMATS]))
def test_random_bytes_parse_or_raise_export_parse_error(data, fmt):
    parse_or_refuse(lambda d: parse_export(d, format=fmt), data)


@FUZZ
@given(st.text(max_size=500), st.sampled_from(list(FORMATS)), encodings())
def test_random_text_parse_or_raise_export_parse_error(text, fmt, encoding):
    parse_or_refuse(FORMATS[fmt].parse, text.encode(encoding, errors="replace"))


@FUZZ
@given(damaged_text(TEXT_SEEDS), st.sampled_from(["auto", *FORMATS]))
def test_damaged_synthetic_exports_parse_or_raise(data, fmt):
    parse_or_refuse(lambda d: parse_export(d, format=fmt), data)


@FUZZ
@given(st.data())
def test_damaged_real_exports_parse_or_raise(data):
    seeds = REAL_SEEDS or [seed.encode() for seed in TEXT_SEEDS]
    text_seeds = [seed.decode("latin-1") for seed in seeds if not seed.startswith(b"PK")]
    damaged = data.draw(st.one_of(damaged_text(text_seeds), damaged_bytes(seeds)))
    parse_or_refuse(parse_export, damaged)


@FUZZ
@given(damaged_bytes([zipped(synthetic.rdml_xml(reacts=synthetic.RDML_REACTS).encode())]))
def test_corrupted_rdml_zips_parse_or_raise(data):
    parse_or_refuse(FORMATS["rdml"].parse, data)


@FUZZ
@given(damaged_text([synthetic.rdml_xml(reacts=synthetic.RDML_REACTS)]))
def test_damaged_rdml_xml_inside_a_zip_parse_or_raise(xml):
    parse_or_refuse(FORMATS["rdml"].parse, zipped(xml))


@FUZZ
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(min_value=-(10**400), max_value=10**400).map(str),
        st.from_regex(r"[-+]?[0-9,. ]{1,30}(e[-+]?[0-9]{1,4})?", fullmatch=True),
    ),
    st.sampled_from(["lc480", "abi", "biorad_cfx", "rdml"]),
)
def test_any_number_in_the_cq_column_parses_or_raises(number, fmt):
    rows = {
        "lc480": synthetic.lc480([f"True\t255\tA1\tS\t{number}\t\t0"]),
        "abi": f"Well\tSample Name\tDetector\tCt\nA1\tS\tmiR-21\t{number}\n",
        "biorad_cfx": f',Well,Fluor,Target,Sample,Cq\n,A01,FAM,miR-21,S,"{number}"\n',
        "rdml": synthetic.rdml_xml(
            reacts=f'<react id="1"><data><tar id="t"/><cq>{number}</cq></data></react>'
        ),
    }
    parse_or_refuse(FORMATS[fmt].parse, rows[fmt].encode())
