"""The layers only point down (docs/architecture.md): every import in the code base is read and
checked against the table below, and nothing imports another module's private names."""
from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PURE = {"schemas", "matching"}
# The rooms (docs/architecture.md), each over the kernel `register`.
ROOMS = {"register", "sources", "linkage", "oversight", "cme", "cnis", "alerts"}
# What each package may import from Rollcall (besides itself). A package not listed here is not
# allowed to exist unplaced: add it to the table and to docs/architecture.md.
MAY_IMPORT = {
    "schemas": set(),
    "matching": {"schemas"},
    "register": {"schemas"},
    "sources": PURE | {"register"},
    "linkage": PURE | {"register"},
    "oversight": PURE | {"register", "linkage"},
    "cme": PURE | {"register", "sources", "linkage", "oversight"},
    "cnis": PURE | {"register", "sources", "linkage", "oversight", "cme"},
    "alerts": PURE | {"register", "oversight"},
    "synth": PURE | {"cme"},
    "localsftp": set(),
    "assets": PURE | ROOMS,
    "casework": PURE | ROOMS,
    "pipelines": PURE | ROOMS | {"assets", "synth", "localsftp", "casework"},
    "bench": PURE | ROOMS | {"assets", "pipelines", "synth", "localsftp", "casework"},
    "tests": PURE | ROOMS | {"assets", "pipelines", "synth", "localsftp", "bench", "casework"},
}
# Modules as pure as the pure libraries inside a room that does I/O: frames in, frames out.
PURE_MODULES = {"cme.rules": {"schemas"}, "cnis.membership": {"schemas", "cme"}}
PACKAGES = set(MAY_IMPORT) - {"bench", "tests"}
# Asset modules that define assets must not lean on each other; shared helpers live beside them.
ASSET_HELPERS = {"assets.policies", "assets.safety"}


def python_files():
    for top in sorted(MAY_IMPORT):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" not in path.parts:
                yield top, path


_SCAN = """
import ast, json, sys
out = {}
for path in sys.argv[1:]:
    found = []
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            found += [[a.name, [], node.lineno] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append([node.module, [a.name for a in node.names], node.lineno])
    out[path] = found
print(json.dumps(out))
"""


@functools.cache
def _scan(paths: tuple[str, ...]) -> dict:
    # In a fresh interpreter: CPython 3.11's AST constructor can fail ("recursion depth
    # mismatch") when called late in a long test session, after deep recursion elsewhere.
    done = subprocess.run([sys.executable, "-c", _SCAN, *paths], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def imports_of(path: Path) -> list:
    """[module, names, line] for every import statement, at any depth of the file. The code
    base is read in one scan; a file outside it (a probe) is read alone."""
    ours = tuple(str(p) for _top, p in python_files())
    return _scan(ours if str(path) in ours else (str(path),))[str(path)]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_every_top_level_package_is_placed_in_a_layer():
    found = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests"}
    assert found <= PACKAGES, f"packages with no layer: {sorted(found - PACKAGES)}"


def test_imports_only_point_down():
    wrong = []
    for top, path in python_files():
        for module, _names, line in imports_of(path):
            target = module.split(".")[0]
            if target in PACKAGES and target != top and target not in MAY_IMPORT[top]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_pure_modules_inside_a_room_import_only_the_pure_libraries():
    wrong = []
    for _top, path in python_files():
        allowed = PURE_MODULES.get(module_name(path))
        if allowed is None:
            continue
        for module, _names, line in imports_of(path):
            target = module.split(".")[0]
            if target in PACKAGES and target not in allowed and module not in allowed and module != module_name(path):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_kernel_holds_no_domain():
    """`register` is only the database kernel: its modules are these, and a domain's module
    belongs in its room."""
    kernel = {p.stem for p in (ROOT / "register").glob("*.py")}
    assert kernel == {"__init__", "db", "models", "lock", "kept", "clock", "private", "state", "checksums", "configured"}, kernel


def test_no_asset_module_imports_another():
    wrong = []
    for top, path in python_files():
        if top != "assets":
            continue
        for module, _names, line in imports_of(path):
            if module.startswith("assets.") and module not in ASSET_HELPERS:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_nothing_imports_private_names():
    wrong = []
    for _top, path in python_files():
        for module, names, line in imports_of(path):
            if any(part.startswith("_") and not part.startswith("__") for part in module.split(".")):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports the private module {module}")
            if module.split(".")[0] in PACKAGES | {"dagster"}:
                for n in names:
                    if n.startswith("_") and not n.startswith("__"):
                        wrong.append(f"{path.relative_to(ROOT)}:{line} imports the private name {module}.{n}")
    assert not wrong, "\n".join(wrong)


def test_tests_take_helpers_from_the_helpers_module_not_conftest():
    wrong = [f"{path.relative_to(ROOT)}:{line}" for top, path in python_files() if top == "tests"
             for module, _n, line in imports_of(path) if module.split(".")[-1] == "conftest"]
    assert not wrong, "\n".join(wrong)


_PUBLIC = """
import importlib, importlib.util, json, sys
out = {}
for name in sys.argv[1:]:
    package = importlib.import_module(name)
    names = list(getattr(package, "__all__", []))
    missing = [n for n in names if not hasattr(package, n)]
    modules = [n for n in names if importlib.util.find_spec(name + "." + n) is not None]
    out[name] = {"all": names, "missing": missing, "modules": modules}
print(json.dumps(out))
"""


@functools.cache
def public_surfaces() -> dict:
    """Each package's __all__ (its public names, declared in its __init__), with any name that does
    not resolve and any that is also a submodule's name, read in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", _PUBLIC, *sorted(PACKAGES)], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    return json.loads(done.stdout)


def not_public(top: str, path: Path) -> list[str]:
    """Imports in `path` (of package `top`) that reach past another package's public names: a
    package is imported from itself (`from sources import collect`), and only names its __init__
    declares."""
    wrong = []
    for module, names, line in imports_of(path):
        target = module.split(".")[0]
        if target not in PACKAGES or target == top:
            continue
        if module != target:
            wrong.append(f"{path.name}:{line} imports {module}: import the name from {target} itself")
            continue
        public = set(public_surfaces()[target]["all"])
        wrong += [f"{path.name}:{line} imports {target}.{n}, not in {target}.__all__" for n in names if n not in public]
    return wrong


def test_packages_import_each_other_only_by_their_public_names():
    """tests/ and bench/ are exempt: they reach inside a module to test or time it."""
    wrong = [w for top, path in python_files() if top in PACKAGES for w in not_public(top, path)]
    assert not wrong, "\n".join(wrong)


def test_every_public_name_resolves_and_none_is_a_submodule():
    """A public name that is also a submodule's name would be replaced by the module once the
    submodule is imported (Python sets the attribute), so `from P import name` would change meaning."""
    for package, surface in public_surfaces().items():
        assert not surface["missing"], (package, surface["missing"])
        assert not surface["modules"], (package, surface["modules"])


@pytest.mark.parametrize("source, wrong", [
    ("from sources.collection import collect\n", True),
    ("import sources.collection\n", True),
    ("from sources import collect\n", False),
    ("from sources import no_such_name\n", True),
    ("from pipelines.cli import main\n", False),  # a package's own modules may import each other freely
])
def test_the_public_names_rule_catches_a_reach_inside(tmp_path, source, wrong):
    path = tmp_path / "probe.py"
    path.write_text(source)
    top = "pipelines" if "pipelines" in source else "assets"
    assert bool(not_public(top, path)) is wrong


_LOCAL_IMPORTS = """
import ast, json, sys
out = {}
for path in sys.argv[1:]:
    text = open(path).read()
    lines = text.split("\\n")
    said_once = "# Imports inside functions, said once:" in text
    found = []
    for fn in ast.walk(ast.parse(text, path)):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = [n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))]
            if inner and not said_once:
                first = min(n.lineno for n in inner)
                if not lines[first - 2].strip().startswith("#"):
                    found.append([fn.name, first])
    out[path] = found
print(json.dumps(out))
"""


def unsaid_local_imports(paths: list[Path]) -> list[str]:
    """Functions that import inside themselves without saying why (a comment above the first such
    import, or one line at the top of a module whose commands all import late)."""
    done = subprocess.run([sys.executable, "-c", _LOCAL_IMPORTS, *map(str, paths)], capture_output=True, text=True,
                          check=True)
    return [f"{Path(path).name}:{line} imports inside {fn}() without saying why"
            for path, found in json.loads(done.stdout).items() for fn, line in found]


def test_no_import_inside_a_function_unless_it_says_why():
    wrong = unsaid_local_imports([path for top, path in python_files() if top in PACKAGES])
    assert not wrong, "\n".join(wrong)


def test_the_local_import_rule_catches_an_unsaid_one(tmp_path):
    unsaid, said = tmp_path / "unsaid.py", tmp_path / "said.py"
    unsaid.write_text("def f():\n    import json\n    return json\n")
    said.write_text("def f():\n    # json loads late: start-up\n    import json\n    return json\n")
    assert unsaid_local_imports([unsaid]) and not unsaid_local_imports([said])


@pytest.mark.parametrize("source, rule", [
    ("from pipelines.resources import RegisterDatabase\n", "imports_only_point_down"),
    ("from register.db import _drop_stale_batch_copies\n", "private"),
    ("import dagster._core.storage.tags\n", "private"),
])
def test_the_rules_catch_a_wrong_import(tmp_path, source, rule):
    path = tmp_path / "probe.py"
    path.write_text(source)
    module, names, _ = imports_of(path)[0]
    if rule == "private":
        assert (any(p.startswith("_") for p in module.split(".")) or any(n.startswith("_") for n in names))
    else:
        assert module.split(".")[0] not in MAY_IMPORT["assets"]


def test_tests_that_need_a_service_carry_its_marker(request):
    from tests.helpers import NEEDS

    for item in request.session.items:
        for fixture, markers in NEEDS.items():
            if fixture in item.fixturenames:
                assert all(item.get_closest_marker(m) for m in markers), item.nodeid
