"""The documentation cannot drift from the code: every ```python block in docs/ and the
READMEs compiles, and every ``django_sms_gateway`` or ``sms_sandbox`` name it mentions (an
import, a dotted path in a setting) exists."""

import ast
import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The sdist carries no sandbox/, hence its README only where it exists.
READMES = [page for page in (ROOT / "README.md", ROOT / "sandbox" / "README.md") if page.exists()]
PAGES = [*READMES, *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
PACKAGES = ("django_sms_gateway", "sms_sandbox")
DOTTED = re.compile(rf"\b(?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)*")


def python_blocks():
    for page in PAGES:
        if "_build" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            name = f"{page.relative_to(ROOT)}:{line}"
            yield pytest.param(match.group(1), name, id=name)


def resolve(dotted: str) -> object:
    """The object a dotted name means: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            found: object = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise  # the module exists but imports something missing
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def names_in(code: str) -> set[str]:
    tree = ast.parse(code)
    names = set(DOTTED.findall(code))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGES):
            names.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def test_the_docs_have_python_blocks():
    assert len(list(python_blocks())) >= 10


@pytest.mark.parametrize(("code", "where"), list(python_blocks()))
def test_python_block_compiles_and_names_what_exists(code, where):
    compile(code, where, "exec")
    for dotted in sorted(names_in(code)):
        try:
            resolve(dotted)
        except (ImportError, AttributeError) as exc:
            pytest.fail(f"{where}: {dotted} does not exist ({exc})")


@pytest.mark.parametrize(
    "dotted",
    [
        "django_sms_gateway.nowhere",
        "django_sms_gateway.models.NoSuchDevice",
        "django_sms_gateway.backends.gone.X",
        "sms_sandbox.nowhere",
    ],
)
def test_a_name_that_does_not_exist_is_caught(dotted):
    with pytest.raises((ImportError, AttributeError)):
        resolve(dotted)
