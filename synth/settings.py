"""What the generator varies: how messy the extracts are and how hard the population is to link.
The defaults are the generator as it has always been; the robustness grid (bench/robustness_grid.py)
varies every field, because a rule counts only when it holds on data it was not tuned to.

Rates are per record unless said; `typo_rate` and `gp_slip_factor` multiply the slip rates in
synth.slips (GP registrations are typed from a parent's form and slip more than school systems)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Settings:
    typo_rate: float = 1.0  # multiplier on every name and birth-date slip
    gp_slip_factor: float = 1.0  # GP records slip this many times as often as school and LA records
    mover_rate: float = 0.10  # children whose GP record has their new address and the school's the old one
    postcode_blank_gp: float = 0.04  # GP records with no postcode
    surname_change: float = 0.0  # children whose surname changed (a new family name) in their GP record, who moved
    twin_rate: float = 0.06  # families of two or more whose first two children are twins
    alike_twin_names: float = 0.0  # of twins, those given alike names (Sophia and Sophie, Jack and Jake)
    twin_slips: float = 0.0  # of twins, those one of whose GP records carries a surname or birth-date slip
    gp_nhs_number: float = 0.92  # GP records that carry an NHS number
    la_identifier_factor: float = 1.0  # multiplier on the share of LA records that carry a UPN or NHS number
    names: str = "short"  # "short": the built-in lists of common names; "gb": names-dataset's GB ranks
    name_zipf: float = 0.7  # exponent of the rank-frequency curve: lower spreads children over more names
    diacritic_slips: float = 0.0  # of GP records whose given name has a diacritic: lost (Zoe) or mangled (Zie)
    # How deliveries come (issue 28): how many providers, and how their files are written.
    pupils_per_school: int = 600  # children per school: fewer make more schools, so more files
    children_per_practice: int = 2500  # children per GP practice
    lf_files: float = 0.0  # files whose lines end LF (the rest CRLF, as Windows school and GP systems write)
    quoted_files: float = 0.0  # files with every field quoted

    def label(self) -> str:
        default = Settings()
        changed = {k: v for k, v in asdict(self).items() if v != getattr(default, k)}
        return ", ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"
