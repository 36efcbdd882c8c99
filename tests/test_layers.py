"""The backends sit below the app: no backend module imports, even lazily
inside a function, a module that imports the backends. ``checks`` imports
nothing of the package but the exceptions when it loads, so any layer may
take check ids from it."""

import ast
from pathlib import Path

import django_sms_gateway

PACKAGE = Path(django_sms_gateway.__file__).parent
#: The package's modules a backend may use ("" is the package itself); none imports a backend.
BELOW_THE_BACKENDS = {"", "checks", "conf", "exceptions", "phone", "text"}


def imported_modules(path: Path, package: str, *, when_loading: bool = False) -> set[str]:
    """Every module ``path`` (a module of ``package``) imports, as a dotted name:
    anywhere in it, or with ``when_loading`` only at module level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in tree.body if when_loading else ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            found.add(".".join([*base, *([node.module] if node.module else [])]))
    return found


def package_modules(names: set[str]) -> set[str]:
    """The ``django_sms_gateway`` modules among ``names``, by their first name below the package."""
    return {(name.split(".") + [""])[1] for name in names if name.split(".")[0] == "django_sms_gateway"}


def test_backend_modules_import_only_modules_below_them():
    upward = {
        path.name: sorted(package_modules(imported_modules(path, "django_sms_gateway.backends"))
                          - BELOW_THE_BACKENDS - {"backends"})
        for path in sorted((PACKAGE / "backends").glob("*.py"))
    }
    assert {name: modules for name, modules in upward.items() if modules} == {}


def test_the_modules_below_import_no_backend():
    for name in sorted(BELOW_THE_BACKENDS - {""}):
        assert "backends" not in package_modules(imported_modules(PACKAGE / f"{name}.py", "django_sms_gateway")), name


def test_the_checks_load_with_only_the_exceptions():
    loaded = package_modules(imported_modules(PACKAGE / "checks.py", "django_sms_gateway", when_loading=True))
    assert loaded <= {"exceptions"}
