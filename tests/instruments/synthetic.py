"""Small synthetic exports, written the way each instrument writes them.

Used by the parser tests (quirks the real files do not show, such as decimal commas
or UTF-16) and by the fuzz tests as seeds to mutate.
"""

LC480_HEADER = "Include\tColor\tPos\tName\tCp\tConcentration\tStandard\tStatus"
LC480_TITLE = "Experiment: miR-21 serum  Selected Filter: SYBR Green I / HRM Dye (483-533)"


def lc480(rows: list[str], *, newline: str = "\r\n", final_newline: bool = True) -> str:
    """An LC480 Cp export: title, header, ``rows`` (tab-separated)."""
    text = newline.join([LC480_TITLE, LC480_HEADER, *rows])
    return text + newline if final_newline else text


LC480_ROWS = [
    "True\t255\tA1\tS-001 miR-21\t22.78\t\t0\t",
    "True\t65280\tA2\tS-001 miR-21\t\t\t0\t",
    "True\t255\tA3\tS-002 miR-21\t  4.91\t\t0",
    "False\t255\tB1\tS-002 miR-16\t31.05\t1.01E+05\t0\t",
]

LC480_DECIMAL_COMMA_ROWS = [
    "True\t255\tA1\tS-001\t22,78\t1,01E+05\t0\t",
    "True\t255\tA2\tS-001\t  4,91\t\t0",
    "True\t65280\tA3\tS-002\t\t\t0\t",
]

LC480_SAMPLE_INFO = (
    "General:Pos\tGeneral:Sample Name\tGeneral:Repl. Of\tGeneral:Filt. Comb.\t"
    "General:Target Name\tSample Preferences:Color\n"
    "A1\tS-001\t\t465-510\tmiR-21\tclRed\n"
    "A2\tS-002\t\t465-510\tmiR-16\t$00FF8000\n"
)

ABI_SDS = "\r".join(
    [
        "SDS 2.3 RQ Results\t1.2",
        "Filename\tserum plate.sdm",
        "EmbeddedFile\tPlate1",
        "Run DateTime\tFri May 15 17:10:28 BST 2009",
        "EmbeddedFile\tPlate2",
        "",
        "# \tPlate\tPos\tFlag\tSample\tDetector\tTask\tCt\tDelta Ct\tOmit",
        "1\tPlate1\tA1\tPassed\tS-001\tmiR-21\tTarget\t24.5\t\tFALSE",
        "2\tPlate1\tA2\tFlagged\tS-001\tmiR-21\tTarget\tUndetermined\t\tFALSE",
        "3\tPlate2\tA1\tPassed\tS-001\tmiR-21\tTarget\t24.75\t\tTRUE",
        "",
        "PlateID\tNAP\tLPL",
        "AF22\t\t",
    ]
)

ABI_QUANTSTUDIO = "\n".join(
    [
        "* Block Type = 96-Well Block (0.2mL)",
        "* Experiment Name = serum miRNA",
        "* Experiment Type = Comparative C\u0442 (\u0394\u0394C\u0442) ",
        "",
        "[Sample Setup]",
        "Well\tWell Position\tSample Name\tTarget Name",
        "1\tA1\tS-001\tmiR-21",
        "",
        "[Results]",
        "Well\tWell Position\tOmit\tSample Name\tTarget Name\tTask\tReporter\tC\u0442\tQuantity",
        '1\tA1\tfalse\tS-001\tmiR-21\tUNKNOWN\tFAM\t24.512\t"1,250.000"',
        "2\tA2\ttrue\tS-001\tmiR-21\tUNKNOWN\tFAM\tUndetermined\t",
        "13\tB1\tfalse\t5000018696625\tmiR-16\tSTANDARD\tVIC\t19.525\t10,000,000.000",
        "",
    ]
)

ABI_7500_CSV = "\r\n".join(
    [
        "Document Name,serum.sds",
        "Run Date,2012-03-01",
        "",
        "Well,Sample Name,Detector,Task,Ct,StdDev Ct,Qty",
        "1,S-001,miR-21,Unknown,24.5,0.1,",
        "96,S-002,miR-21,Unknown,Undetermined,,",
        "",
    ]
)

BIORAD_CFX = "\r\n".join(
    [
        ",Well,Fluor,Target,Content,Sample,Biological Set Name,Cq,Cq Mean,Cq Std. Dev",
        ",A01,FAM,miR-21,Unkn,S-001,,21.1877528266099,21.19,0",
        ",A01,VIC,miR-16,Unkn,S-001,,23.5,23.5,0",
        ",B12,FAM,miR-21,Neg Ctrl,,,N/A,0.00,0.000",
        ",P24,FAM,miR-21,Unkn,S-002,,NaN,NaN,0",
        "",
    ]
)

BIORAD_CFX_SEMICOLON = "\r\n".join(
    [
        ";Well;Fluor;Target;Content;Sample;Cq;Cq Mean",
        ";A01;SYBR;miR-21;Unkn;S-001;27,12;27,12",
        ";A02;SYBR;miR-21;Unkn;S-001;N/A;0,00",
    ]
)


def rdml_xml(version: str = "1.1", reacts: str = "", pcr_format: str = "") -> str:
    """A minimal RDML document with one experiment and one run."""
    if not pcr_format:
        pcr_format = (
            "<pcrFormat><rows>8</rows><columns>12</columns>"
            "<rowLabel>ABC</rowLabel><columnLabel>123</columnLabel></pcrFormat>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<rdml xmlns="http://www.rdml.org" version="{version}">\n'
        "<dateMade>2024-05-01T10:00:00</dateMade>\n"
        '<target id="miR-21"><type>toi</type><dyeId id="FAM"/></target>\n'
        '<experiment id="serum plate 7">\n'
        '<run id="run 1">\n'
        f"{pcr_format}\n"
        f"{reacts}\n"
        "</run>\n"
        "</experiment>\n"
        "</rdml>\n"
    )


RDML_REACTS = "\n".join(
    [
        '<react id="1"><sample id="S-001"/><data><tar id="miR-21"/><cq>24.5</cq></data></react>',
        '<react id="13"><sample id="S-002"/><data><tar id="miR-21"/><cq>40.0</cq></data></react>',
        '<react id="96"><sample id="NTC"/><data><tar id="miR-21"/></data></react>',
    ]
)
