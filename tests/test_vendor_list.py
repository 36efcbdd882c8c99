"""One vendor list: the table of docs/vendors/index.md. It names every vendor backend in
django_sms_gateway/backends/ once, each vendor's page is one the sandbox imitates, and the
README and the docs index link exactly the vendors of that table."""

import importlib
import inspect
import pathlib
import re

import pytest

import django_sms_gateway.backends
from django_sms_gateway.backends.base import BaseBackend

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENDORS_PAGE = ROOT / "docs" / "vendors" / "index.md"
BACKENDS = pathlib.Path(django_sms_gateway.backends.__file__).parent
#: The backends that send nothing (the "Development backends" of the vendors page).
DEVELOPMENT = {"console.ConsoleBackend", "locmem.LocmemBackend"}
ROW = re.compile(r"^\| \[(?P<name>[^\]]+)\]\((?P<page>\w+)\.md\) \| `(?P<backend>\w+\.\w+)` \|", re.MULTILINE)
DOCS_SITE_PAGE = re.compile(r"https://django-otp-sms-gateway\.readthedocs\.io/en/latest/vendors/(\w+)\.html")
RELATIVE_PAGE = re.compile(r"\]\(vendors/(\w+)\.md\)")


def table() -> list[re.Match]:
    return list(ROW.finditer(VENDORS_PAGE.read_text(encoding="utf-8")))


def shipped_backends() -> set[str]:
    """``module.Class`` of every backend class no other backend here builds on."""
    classes = {}
    for path in sorted(BACKENDS.glob("*.py")):
        module = importlib.import_module(f"django_sms_gateway.backends.{path.stem}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseBackend) and cls.__module__ == module.__name__:
                classes[f"{path.stem}.{name}"] = cls
    return {name for name, cls in classes.items() if not any(
        other is not cls and issubclass(other, cls) for other in classes.values()
    )}


def test_the_table_names_every_vendor_backend_once():
    rows = [row["backend"] for row in table()]
    assert len(rows) == len(set(rows))
    assert set(rows) == shipped_backends() - DEVELOPMENT
    text = VENDORS_PAGE.read_text(encoding="utf-8")
    assert all(f"django_sms_gateway.backends.{backend}" in text for backend in DEVELOPMENT)


def test_every_vendor_of_the_table_has_its_page_and_is_imitated_by_the_sandbox():
    sandbox = pytest.importorskip("sms_sandbox.state", reason="install the sandbox: pip install -e ./sandbox")
    pages = {row["page"] for row in table()}
    assert pages == set(sandbox.VENDORS) - set(sandbox.LOOKUP_SERVICES)  # lookups: docs/risk-checks.md
    assert all((VENDORS_PAGE.parent / f"{page}.md").is_file() for page in pages)


@pytest.mark.parametrize(
    ("page", "links"), [("README.md", DOCS_SITE_PAGE), ("docs/index.md", RELATIVE_PAGE)], ids=["README", "index"]
)
def test_the_readme_and_the_docs_index_link_the_vendors_of_the_table(page, links):
    linked = links.findall((ROOT / page).read_text(encoding="utf-8"))
    assert sorted(set(linked) - {"index"}) == sorted({row["page"] for row in table()})


@pytest.mark.parametrize("page", ["README.md", "docs/index.md", "docs/vendors/index.md"])
def test_what_the_sandbox_imitates_is_every_vendor(page):
    text = " ".join((ROOT / page).read_text(encoding="utf-8").split())
    claims = re.findall(r"\bimitates ([^.;:(]+)", text) + re.findall(r"(\S+ \S+) (?:is )?imitated by", text)
    assert claims and all(re.search(r"\bevery vendor|\beach\b", claim, re.IGNORECASE) for claim in claims), claims
