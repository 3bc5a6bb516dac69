"""Write the generator's name tables from the `names-dataset` package's Great Britain ranks:
given names by sex (gb_given_names.csv: name, sex, rank) and surnames (gb_surnames.csv: name,
rank), Latin letters only (diacritics, hyphens and apostrophes kept). The package is large
(55 MB, several GB in memory), so it is not a dependency: run this once, in its own environment,
when the tables are to be remade, and commit the two CSV files.

  python -m venv /tmp/nd && /tmp/nd/bin/pip install names-dataset==3.3.1
  /tmp/nd/bin/python synth/data/extract_names.py synth/data
"""
import csv
import sys
import unicodedata
from pathlib import Path

from names_dataset import NameDataset

GIVEN_PER_SEX = 1500
SURNAMES = 4000


def latin(name: str) -> bool:
    letters = [c for c in name if c not in "-' "]
    return bool(letters) and all(unicodedata.name(c, "").startswith("LATIN") for c in letters) and len(name) >= 2


def main(out: Path) -> None:
    nd = NameDataset()
    given = nd.get_top_names(n=GIVEN_PER_SEX * 2, country_alpha2="GB")["GB"]
    with open(out / "gb_given_names.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "sex", "rank"])
        for sex in ("M", "F"):
            names = [n for n in given[sex] if latin(n)][:GIVEN_PER_SEX]
            w.writerows((n.title() if n.isupper() or n.islower() else n, sex, i) for i, n in enumerate(names, 1))
    surnames = [n for n in nd.get_top_names(n=SURNAMES * 2, use_first_names=False, country_alpha2="GB")["GB"]
                if latin(n)][:SURNAMES]
    with open(out / "gb_surnames.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "rank"])
        w.writerows((n.title() if n.isupper() or n.islower() else n, i) for i, n in enumerate(surnames, 1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
