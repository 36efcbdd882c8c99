"""The phone-number library is phonenumbers or phonenumberslite, the site's choice.

Both distributions install the same ``phonenumbers`` module, so a site must end up with exactly
one: the package requires neither outright (django-two-factor-auth's ``[phonenumberslite]``
extra would then install both), offers each as an extra, uses only what phonenumberslite ships,
and without either still loads far enough for ``manage.py check`` to say what is missing.
"""

import ast
import importlib.metadata
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import tomllib

import pytest
from packaging.requirements import Requirement

import django_sms_gateway
from django_sms_gateway import checks

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = pathlib.Path(django_sms_gateway.__file__).parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
LIBRARIES = {"phonenumbers", "phonenumberslite"}
#: Modules of phonenumbers whose data phonenumberslite leaves out.
FULL_ONLY = {"geocoder", "carrier", "timezone", "geodata", "carrierdata", "tzdata"}
#: The pages a site installs the package from.
GUIDES = [ROOT / "README.md", ROOT / "docs" / "install.md", ROOT / "docs" / "two-factor.md"]
#: Every page that may show a pip command.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PIP_INSTALL = re.compile(r"^\s*(?:\$\s*)?pip install (?P<args>[^#\n]+)", re.MULTILINE)


def names(requirements):
    return {Requirement(text).name.lower() for text in requirements}


def test_no_phone_library_is_required_outright_and_each_is_an_extra():
    extras = PROJECT["optional-dependencies"]
    assert names(PROJECT["dependencies"]) & LIBRARIES == set()
    assert names(extras["phonenumbers"]) == {"phonenumbers"}
    assert names(extras["phonenumberslite"]) == {"phonenumberslite"}
    # `make test` and the matrix install the test extra: it brings exactly one.
    assert len(names(extras["test"]) & LIBRARIES) == 1


def requires(distribution: str, extras: frozenset[str]) -> list[Requirement]:
    """What installing ``distribution[extras]`` asks for: this project's from pyproject.toml,
    any other from its installed metadata."""
    if distribution == PROJECT["name"]:
        found = [Requirement(text) for text in PROJECT["dependencies"]]
        found += [Requirement(text) for extra in extras for text in PROJECT["optional-dependencies"][extra]]
        return found
    found = []
    for text in importlib.metadata.requires(distribution) or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras or {""}):
            found.append(requirement)
    return found


def phone_libraries(arguments: list[str]) -> set[str]:
    """The phone-number distributions ``pip install <arguments>`` installs, following the
    requirements of every installed distribution it pulls in."""
    seen: set[str] = set()
    todo = [Requirement(argument) for argument in arguments]
    while todo:
        requirement = todo.pop()
        key = f"{requirement.name.lower()}{sorted(requirement.extras)}"
        if key in seen:
            continue
        seen.add(key)
        try:
            todo += requires(requirement.name, frozenset(requirement.extras))
        except importlib.metadata.PackageNotFoundError:
            continue  # counted, not followed (phonenumberslite itself is not installed in the test run)
    return {key.split("[")[0] for key in seen} & LIBRARIES


def pip_lines(page: pathlib.Path) -> list[list[str]]:
    return [
        [argument.strip("'\"") for argument in match["args"].split() if not argument.startswith("-")]
        for match in PIP_INSTALL.finditer(page.read_text(encoding="utf-8"))
    ]


@pytest.mark.parametrize("page", GUIDES, ids=lambda page: page.name)
def test_the_install_commands_of_the_guides_give_exactly_one_phone_library(page):
    if page.name == "two-factor.md":
        pytest.importorskip("two_factor", reason="the two-factor guide's command is read from its metadata")
    lines = [line for line in pip_lines(page) if any(arg.startswith(PROJECT["name"]) for arg in line)]
    assert lines, f"{page.name} shows no pip command installing {PROJECT['name']}"
    for line in lines:
        assert len(phone_libraries(line)) == 1, f"{page.name}: pip install {' '.join(line)}"


def test_no_pip_command_in_the_docs_installs_both():
    for page in PAGES:
        for line in pip_lines(page):
            assert len(phone_libraries(line)) <= 1, f"{page.relative_to(ROOT)}: pip install {' '.join(line)}"


def test_the_two_factor_guide_installs_what_django_two_factor_auth_pins():
    pytest.importorskip("two_factor", reason="read from django-two-factor-auth's metadata")
    [line] = [line for line in pip_lines(ROOT / "docs" / "two-factor.md") if len(line) > 1]
    assert phone_libraries(line) == {"phonenumberslite"}
    assert any(arg.startswith("django-two-factor-auth[phonenumberslite]") for arg in line)


def full_only_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                alias.name for alias in node.names
                if alias.name.startswith("phonenumbers.") and alias.name.split(".")[1] in FULL_ONLY
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("phonenumbers"):
            module_parts = set((node.module or "").split(".")[1:])
            found += [f"{node.module}.{a.name}" for a in node.names if (module_parts | {a.name}) & FULL_ONLY]
        elif isinstance(node, ast.Attribute) and node.attr in FULL_ONLY and isinstance(node.value, ast.Name) \
                and node.value.id == "phonenumbers":
            found.append(f"phonenumbers.{node.attr}")
    return found


def test_the_package_uses_only_what_phonenumberslite_ships():
    used = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in full_only_uses(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert used == set()


def test_a_use_of_full_only_data_would_be_seen():
    code = "import phonenumbers.geocoder\nfrom phonenumbers import carrier\nphonenumbers.timezone.x()\nimport timezone"
    assert full_only_uses(ast.parse(code)) == ["phonenumbers.geocoder", "phonenumbers.carrier", "phonenumbers.timezone"]


# -- without either distribution -----------------------------------------------------------------------

#: A site with the package, its admin, its URLs and a vendor gateway, where importing
#: ``phonenumbers`` fails as it does when neither distribution is installed.
WITHOUT_LIBRARY = """
import importlib.abc, json, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "phonenumbers" or name.startswith("phonenumbers."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
for name in [name for name in sys.modules if name.split(".")[0] == "phonenumbers"]:
    del sys.modules[name]

import django
from django.conf import settings
settings.configure(
    DEBUG=True,
    SECRET_KEY="not secret",
    ROOT_URLCONF="site_urls",
    INSTALLED_APPS=[
        "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
        "django.contrib.sessions", "django.contrib.messages", "django_otp", "django_otp.plugins.otp_totp",
        "django_sms_gateway",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django_otp.middleware.OTPMiddleware",
        "django_sms_gateway.middleware.SMSRequestMiddleware",
    ],
    TEMPLATES=[{
        "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
        "OPTIONS": {"context_processors": [
            "django.template.context_processors.request", "django.contrib.auth.context_processors.auth",
            "django.contrib.messages.context_processors.messages",
        ]},
    }],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    SMS_GATEWAYS={"zignsec": {
        "BACKEND": "django_sms_gateway.backends.zignsec.ZignSecBackend",
        "OPTIONS": {"api_key": "key-from-the-vendor", "sender": "Acme"},
        "COUNTRIES": ["NO", "SE"],
    }},
    OTP_SMS_DEFAULT_REGION="NO",
    OTP_SMS_ALLOWED_COUNTRIES=["NO", "SE"],
)
django.setup()
from django.core.management import call_command
from django.core.management.base import SystemCheckError

found = {}
try:
    call_command("check")
except SystemCheckError as exc:
    found["check"] = str(exc)
from django_sms_gateway.exceptions import ConfigurationError
from django_sms_gateway.phone import normalize_number

try:
    normalize_number("+4798765432")
except ConfigurationError as exc:
    found["normalize_number"] = [exc.check_id, exc.message]
print(json.dumps(found))
"""


def test_without_either_library_the_check_says_so_and_nothing_else_breaks(tmp_path):
    (tmp_path / "site_urls.py").write_text(textwrap.dedent("""
        from django.contrib import admin
        from django.urls import include, path

        urlpatterns = [path("admin/", admin.site.urls), path("sms/", include("django_sms_gateway.urls"))]
    """))
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_LIBRARY], cwd=tmp_path, capture_output=True, text=True, check=False,
        env={**_environment(), "PYTHONPATH": f"{tmp_path}"},
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    report = found["check"]
    assert report.count(checks.E023) == 1 and "(sms_gateway." not in report.replace(checks.E023, "")
    assert "phonenumbers" in report and "phonenumberslite" in report
    assert "Traceback" not in report + done.stderr
    check_id, message = found["normalize_number"]
    assert check_id == checks.E023 and "phonenumberslite" in message


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}


def test_with_the_library_the_check_is_quiet():
    assert checks.check_phonenumbers() == []
