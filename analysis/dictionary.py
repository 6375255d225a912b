"""What a cohort's columns mean: type, role, unit, label, levels and event coding (pure).

An imported cohort carries a data dictionary; the live cohort has the paper's
(docs/cohort.md). The engine and the report read labels and the time unit from it, so a
dataset in days is never labelled "months from TACE" and "ast_iu_l" reads "AST (IU/l)".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

TYPES = ("numeric", "categorical", "boolean", "date", "text", "id")
ROLES = ("id", "time", "event", "variable", "qc", "status")


@dataclass(frozen=True)
class ColumnInfo:
    """One column. For an event column, ``event_values`` are the values meaning "the
    event happened" and ``censored_values`` those meaning "censored" (e.g. 2 / 1 for R's
    1/2 coding, "dead" / "alive" for text)."""

    name: str
    type: str = "numeric"
    role: str = "variable"
    unit: str = ""
    label: str = ""
    levels: tuple = ()
    event_values: tuple = ()
    censored_values: tuple = ()

    @property
    def display(self) -> str:
        """The human label with its unit: "AST (IU/l)"."""
        text = self.label or self.name
        return f"{text} ({self.unit})" if self.unit and f"({self.unit})" not in text else text


@dataclass
class DataDictionary:
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    time_unit: str = "months"
    source: str = ""  # "declared", "inferred and confirmed", "paper"

    def label(self, column: str) -> str:
        info = self.columns.get(column)
        return info.display if info else column

    def to_dict(self) -> dict:
        return {
            "time_unit": self.time_unit,
            "source": self.source,
            "columns": [
                {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(c).items()}
                for c in self.columns.values()
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping | None) -> DataDictionary:
        data = data or {}
        columns = {}
        for item in data.get("columns", []):
            values = {
                k: tuple(v) if isinstance(v, list) else v
                for k, v in item.items()
                if k in ColumnInfo.__dataclass_fields__
            }
            columns[item["name"]] = ColumnInfo(**values)
        return cls(columns, data.get("time_unit", "months"), data.get("source", ""))
