"""The receipt a provider gets for every file (docs/contract.md): JSON for machines, CSV with
one row per rejected row. Reasons and safe display values only, never personal data."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.cells import display_value, safe_cell
from schemas.contract import CONTRACT_VERSION, RowFault


@dataclass
class Receipt:
    file: str
    status: str  # accepted, rejected, duplicate
    sha256: str = ""
    feed: str | None = None
    provider: str | None = None
    extract_date: str | None = None
    reason: str | None = None
    rows_total: int = 0
    rows_accepted: int = 0
    warnings: list[str] = field(default_factory=list)
    faults: list[RowFault] = field(default_factory=list)

    @property
    def rows_quarantined(self) -> int:
        return len({f.row for f in self.faults})

    def to_json(self) -> bytes:
        body = {
            "contract_version": CONTRACT_VERSION,
            "file": self.file,
            "sha256": self.sha256,
            "feed": self.feed,
            "provider": self.provider,
            "extract_date": self.extract_date,
            "status": self.status,
            "reason": self.reason,
            "rows": {"total": self.rows_total, "accepted": self.rows_accepted,
                     "quarantined": self.rows_quarantined},
            "warnings": self.warnings,
            "rejected_rows": [{"row": f.row, "column": f.column, "reason": f.reason} for f in self.faults],
            "processed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8")

    def to_csv(self) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(["row", "column", "value", "reason"])
        if self.status != "accepted" and self.reason:
            w.writerow(["", "", "", safe_cell(f"file {self.status}: {self.reason}")])
        for f in self.faults:
            w.writerow([f.row, f.column, display_value(self.feed or "", f.column, f.value), safe_cell(f.reason)])
        return buf.getvalue().encode("utf-8")

    def lines(self, own_values: bool = False) -> list[str]:
        """The same findings as text, for `rollcall validate` on the provider's own machine: the
        headline says how many rows were rejected; each row is numbered as the contract counts
        (data rows from 1) and as a spreadsheet shows it (the header is its row 1); with
        own_values, a rejected cell's value is shown whole (it is the provider's own file),
        else as a receipt shows it."""
        rejected = self.rows_quarantined
        headline = self.status + (f", {rejected} row{'s' if rejected != 1 else ''} rejected"
                                  if self.status == "accepted" and rejected else "")
        out = [f"{self.file}: {headline}" + (f" ({self.reason})" if self.reason else "")]
        if self.status == "accepted" or self.rows_total:
            out.append(f"rows: {self.rows_total} total, {self.rows_accepted} accepted, "
                       f"{rejected} rejected (quarantined)")
        out += [f"warning: {w}" for w in self.warnings]
        for f in self.faults:
            value = ""
            if f.value:
                shown = f.value.replace("\n", " ").replace("\r", " ") if own_values else \
                    display_value(self.feed or "", f.column, f.value)
                value = f" (value: {shown})"
            out.append(f"row {f.row} (spreadsheet row {f.row + 1})" + (f", {f.column}" if f.column else "")
                       + f": {f.reason}{value}")
        return out
