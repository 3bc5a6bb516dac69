"""Configuration is read once at an edge (the command line, the Dagster definitions and each run,
Django's settings) and handed down: no module below them reads the environment."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alerts import AlertSettings, alert_settings
from oversight import Limits, OversightSettings, Periods, oversight_settings
from pipelines.environment import configure_rooms
from tests.codebase.test_layers import PACKAGES, ROOT, python_files

# The edges, and why each may read the process environment.
EDGES = {
    "pipelines": "the command line, the Dagster definitions and resources, a run",
    "casework/settings.py": "Django's settings",
    "casework/wsgi.py": "the WSGI entry point names Django's settings module",
    "casework/users.py": "starts Django from the command line on the register it is given",
}


_READS = """
import ast, json, sys
out = {}
for path in sys.argv[1:]:
    found = []
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \\
                and node.attr in ("environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"):
            found.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and \\
                any(a.name in ("environ", "environb", "getenv", "putenv") for a in node.names):
            found.append(node.lineno)
    out[path] = found
print(json.dumps(out))
"""


def reads_environment(paths: list[Path]) -> dict[str, list[int]]:
    """For each file, the lines that read or write the process environment: os.environ,
    os.getenv, os.putenv, or environ/getenv imported from os. Parsed in a fresh interpreter
    (CPython 3.11's AST constructor can fail late in a long test session)."""
    done = subprocess.run([sys.executable, "-c", _READS, *map(str, paths)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def is_edge(path: Path) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == edge or rel.startswith(edge + "/") for edge in EDGES)


def test_only_the_edges_read_the_environment():
    paths = [path for top, path in python_files() if top in PACKAGES and not is_edge(path)]
    wrong = [f"{Path(path).relative_to(ROOT)}:{line}" for path, lines in reads_environment(paths).items()
             for line in lines]
    assert not wrong, "read the setting at an edge and pass it down:\n" + "\n".join(wrong)


@pytest.mark.parametrize("source, reads", [
    ("import os\nx = os.environ.get('A')\n", True),
    ("import os\nx = os.getenv('A')\n", True),
    ("from os import environ\n", True),
    ("import os\nx = os.path.join('a', 'b')\n", False),
])
def test_the_rule_catches_a_read(tmp_path, source, reads):
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert bool(reads_environment([path])[str(path)]) is reads


def test_a_room_keeps_its_settings_until_an_edge_reads_the_environment_again(monkeypatch, tmp_path):
    monkeypatch.setenv("ROLLCALL_ACCESS_HOURLY_CHILDREN", "7")
    monkeypatch.setenv("ROLLCALL_RETAIN_CLOSED_CASE_DAYS", "9")
    monkeypatch.setenv("ROLLCALL_AUDIT_CHECKPOINT_EVERY", "5")
    monkeypatch.setenv("ROLLCALL_ALERTS", str(tmp_path / "alerts.log"))
    before = oversight_settings()
    assert before.limits.hourly_children != 7 and alert_settings().alerts_file != tmp_path / "alerts.log", \
        "the environment changed, but no edge has read it: the rooms must not have"
    configure_rooms()
    now = oversight_settings()
    assert now.limits.hourly_children == 7 and now.periods.closed_case_days == 9 and now.checkpoint_every == 5
    assert now.limits.usual_floor == Limits().usual_floor and now.periods.archive_days == Periods().archive_days
    assert alert_settings().alerts_file == tmp_path / "alerts.log"


def test_settings_parse_from_a_mapping_and_default_when_unset():
    assert OversightSettings.from_environ({}) == OversightSettings()
    assert AlertSettings.from_environ({}) == AlertSettings()
    given = OversightSettings.from_environ({"ROLLCALL_AUDIT_ANCHOR": "/srv/anchor", "ROLLCALL_ACCESS_DORMANT_DAYS": "30"})
    assert given.audit_anchor == Path("/srv/anchor") and given.limits.dormant_days == 30


def test_access_rules_live_in_one_place():
    """Only casework/roles.py names a role to decide who may do what: views, menus and templates ask
    it by ability (casework.roles.ABILITIES). casework/users.py gives roles; it decides nothing."""
    from casework.roles import ROLES

    wrong = []
    for path in sorted((ROOT / "casework").rglob("*")):
        if path.suffix not in (".py", ".html") or path.name in ("roles.py", "users.py") or "migrations" in path.parts:
            continue
        text = path.read_text()
        for role in ROLES:
            if f'"{role}"' in text or f"'{role}'" in text or f"{role.upper()}" in text.replace("ROLLCALL_", ""):
                wrong.append(f"{path.relative_to(ROOT)} names the role {role}")
    assert not wrong, "\n".join(wrong)
