"""The dependency set is pinned with hashes and bin/setup installs from it."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_pinned_with_hashes_and_setup_installs_from_the_lock():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in project["dependencies"] + project["optional-dependencies"]["test"]}
    lock = (ROOT / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\", lock, re.M))
    pinned = {n.lower().replace("_", "-") for n in pins}
    assert wanted <= pinned, wanted - pinned
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 2)[2] if lock.startswith("#") else lock):
        if "==" in block:
            assert "--hash=sha256:" in block, block.splitlines()[0]
    setup = (ROOT / "bin" / "setup").read_text()
    assert "--require-hashes -r requirements.lock" in setup and "--no-deps -e ." in setup
