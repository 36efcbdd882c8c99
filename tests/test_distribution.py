"""What each distribution ships. django-otp-sms-gateway: the app, with no vendor
imitation and no module importing pytest, so a production site installs neither.
django-otp-sms-gateway-sandbox: the imitations and the pytest plugin, independent of
the app (only the ``sms_outbox`` fixture imports it, when a test asks for it)."""

import ast
import importlib.metadata
from pathlib import Path

import django_sms_gateway
import sms_sandbox

PACKAGE = Path(django_sms_gateway.__file__).parent
SANDBOX = Path(sms_sandbox.__file__).parent


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def imports(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    """``(top-level module name, node)`` for every import in ``tree``, wherever it is."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], node))
    return found


def test_the_package_holds_no_sandbox_module():
    assert [path for path in PACKAGE.rglob("*") if "sandbox" in path.relative_to(PACKAGE).as_posix()] == []
    assert not (PACKAGE / "sandbox").exists()


def test_no_module_of_the_package_imports_pytest_or_the_sandbox():
    offending = {
        (path.relative_to(PACKAGE).as_posix(), name)
        for path in sorted(PACKAGE.rglob("*.py"))
        for name, _node in imports(parsed(path))
        if name in {"pytest", "_pytest", "sms_sandbox"}
    }
    assert offending == set()


def test_the_package_registers_no_pytest_plugin_and_the_sandbox_does():
    assert [e for e in importlib.metadata.distribution("django-otp-sms-gateway").entry_points
            if e.group == "pytest11"] == []
    plugins = {e.value: e.dist.name for e in importlib.metadata.entry_points(group="pytest11") if e.dist}
    assert plugins["sms_sandbox.pytest_plugin"] == "django-otp-sms-gateway-sandbox"


def test_the_sandbox_imports_the_app_only_inside_the_sms_outbox_fixture():
    at_module_level = {}
    inside = set()
    for path in sorted(SANDBOX.rglob("*.py")):
        tree = parsed(path)
        functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
        for name, node in imports(tree):
            if name != "django_sms_gateway":
                continue
            holder = next((f.name for f in functions if node in ast.walk(f)), None)
            if holder is None:
                at_module_level[path.name] = name
            else:
                inside.add((path.name, holder))
    assert at_module_level == {}
    assert inside == {("pytest_plugin.py", "sms_outbox")}
