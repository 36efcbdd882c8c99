"""README.md is the long description on the package index, shown away from the repository:
every link and image in it is absolute, each one into the docs site names a page or file the
docs build serves, and the project's URLs say where the docs are."""

import pathlib
import re
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
SITE = "https://django-otp-sms-gateway.readthedocs.io/"
LATEST = f"{SITE}en/latest/"

FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"(`+).*?\1", re.DOTALL)
INLINE = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*)>")
DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HTML_URL = re.compile(r"""<(?:a|img|source)\b[^>]*?\b(?:href|src|srcset)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


def targets(markdown: str) -> list[str]:
    """Every link and image target of ``markdown``, outside code."""
    text = CODE_SPAN.sub("", FENCED.sub("", markdown))
    return [m.group(1) for pattern in (INLINE, AUTOLINK, DEFINITION, HTML_URL) for m in pattern.finditer(text)]


def long_description() -> str:
    assert PROJECT["readme"] == "README.md"
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_long_description_has_no_relative_link_or_image():
    found = targets(long_description())
    assert len(found) >= 10
    assert [target for target in found if not target.startswith("https://")] == []


@pytest.mark.parametrize(
    "markdown",
    [
        "[docs](docs/index.md)", "![shot](docs/_static/x.png)", "[l]: LICENSE", '<img src="docs/a.png">',
        "[a](#anchor)", '[t](docs/x.md "title")', "<mailto:x@example.com>",
    ],
)
def test_a_relative_target_would_be_seen(markdown):
    assert [target for target in targets(markdown) if not target.startswith("https://")] != []


def test_code_is_not_read_as_links():
    assert targets('`[x](y)` and\n```python\nz = a[1](b)\n```\n') == []


def slugs(page: pathlib.Path) -> set[str]:
    """The anchors Sphinx (MyST, headings up to ###) gives ``page``'s headings."""
    headings = re.findall(r"^#{1,3} (.+)$", FENCED.sub("", page.read_text(encoding="utf-8")), re.MULTILINE)
    return {re.sub(r"\s+", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower())) for heading in headings}


def test_each_link_into_the_docs_site_names_what_the_docs_build_serves():
    for target in targets(long_description()):
        if not target.startswith(SITE):
            continue
        assert target == SITE or target.startswith(LATEST), target
        path, _, anchor = target.removeprefix(SITE).removeprefix("en/latest/").partition("#")
        if path.startswith("_static/"):
            assert (DOCS / path).is_file(), target
            continue
        page = DOCS / (path.removesuffix(".html") + ".md" if path else "index.md")
        assert page.is_file() and (path == "" or path.endswith(".html")), target
        assert not anchor or anchor in slugs(page), target


def test_the_project_urls_point_at_the_docs_site():
    urls = PROJECT["urls"]
    assert urls["Homepage"] == urls["Documentation"] == SITE
    assert urls["Changelog"] == f"{LATEST}changelog.html" and (DOCS / "changelog.md").is_file()
    assert all(url.startswith("https://") for url in urls.values())
