"""The CI matrix, run by ``.ci/run`` (``make matrix``); ``nox -l`` lists the sessions.

Every supported Python x Django (where Django supports that Python), one cell on the
oldest django-otp we accept, one on phonenumberslite instead of phonenumbers, and the
package itself: built with the vendor sandbox's distribution (``sandbox/``), checked by
twine, its sdist running its own tests, and its wheel, which must hold no sandbox and no
pytest import, installed into a fresh venv on every Python (first without a phone-number
library, which the checks must report).
PostgreSQL and Redis are used when DATABASE_URL / REDIS_URL are set (``.ci/run`` sets
them when the servers answer).
"""

from __future__ import annotations

import ast
import pathlib
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lite", "package", "wheel"]

ROOT = pathlib.Path(__file__).parent
DIST = ROOT / "dist"
SANDBOX = ROOT / "sandbox"
# The sandbox is on no index yet: every install takes it from sandbox/ or its built wheel.
MAIN_WHEELS = "django_otp_sms_gateway-*.whl"
MAIN_SDISTS = "django_otp_sms_gateway-*.tar.gz"
SANDBOX_WHEELS = "django_otp_sms_gateway_sandbox-*.whl"
PYTHONS = ["3.11", "3.12", "3.13"]
# Django's own support table: 4.2 runs on 3.8-3.12, 5.2 on 3.10-3.13 (3.14 from 5.2.8),
# 6.0 on 3.12 and later.
DJANGO_PYTHONS = {
    "4.2": ["3.11", "3.12"],
    "5.2": ["3.11", "3.12", "3.13"],
    "6.0": ["3.12", "3.13"],
}
OLDEST_DJANGO_OTP = "1.7.1"  # keep in step with pyproject.toml's floor
CELLS = [
    *((python, django, "latest") for django, pythons in DJANGO_PYTHONS.items() for python in pythons),
    ("3.11", "4.2", OLDEST_DJANGO_OTP),
]
PYTEST = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
VERSIONS = (
    "import importlib.metadata as m, platform; "
    "print('Python', platform.python_version(), '| Django', m.version('Django'), "
    "'| django-otp', m.version('django-otp'))"
)


@nox.session
@nox.parametrize(
    "python,django,django_otp",
    sorted(CELLS),
    ids=[f"{p}-django{d}" + ("" if o == "latest" else f"-otp{o}") for p, d, o in sorted(CELLS)],
)
def tests(session: nox.Session, django: str, django_otp: str) -> None:
    """The whole suite on one Python x Django (x django-otp) cell."""
    pins = [f"Django~={django}.0"]
    if django_otp != "latest":
        pins.append(f"django-otp=={django_otp}")
    session.install("-e", str(SANDBOX), "-e", ".[test]", *pins)
    session.run("python", "-c", VERSIONS)
    session.run(*PYTEST, *session.posargs)


def uninstall(session: nox.Session, *distributions: str) -> None:
    if session.venv_backend == "uv":
        session.run("uv", "pip", "uninstall", *distributions)
    else:
        session.run("python", "-m", "pip", "uninstall", "--yes", *distributions)


LITE_CHECK = """
import importlib.metadata as m
try:
    m.distribution("phonenumbers")
except m.PackageNotFoundError:
    import phonenumbers
    assert phonenumbers.__version__ == m.version("phonenumberslite"), phonenumbers.__version__
    print("phonenumberslite", m.version("phonenumberslite"), "alone")
else:
    raise SystemExit("phonenumbers is installed next to phonenumberslite")
"""


# A new venv each time: in a reused one the test extra's phonenumbers would overwrite the
# installed phonenumberslite's files, and uninstalling it would leave no phonenumbers module.
@nox.session(python=PYTHONS[-1], reuse_venv=False)
def lite(session: nox.Session) -> None:
    """The whole suite on phonenumberslite as django-two-factor-auth's extra installs it (the
    other cells run on phonenumbers, which the test extra brings)."""
    session.install("-e", str(SANDBOX), "-e", ".[test]")
    uninstall(session, "phonenumbers")
    session.install("-e", ".[phonenumberslite]", "django-two-factor-auth[phonenumberslite]")
    session.run("python", "-c", LITE_CHECK)
    session.run(*PYTEST, *session.posargs)


def sandbox_module(parts: list[str]) -> bool:
    """Whether the path ``parts`` name a module of the sandbox, or anything sandbox in the package."""
    return "sms_sandbox" in parts or ("django_sms_gateway" in parts and any("sandbox" in part for part in parts))


@nox.session(python=PYTHONS[0], reuse_venv=False)
def package(session: nox.Session) -> None:
    """Build the sdists and wheels (the package's and the sandbox's), check them, test the sdist.

    twine checks all four; the package's sdist must hold no sandbox module, and its own
    tests run from the unpacked sdist against the sandbox's wheel."""
    shutil.rmtree(DIST, ignore_errors=True)
    session.install("build>=1.2", "twine>=6.1")
    session.run("python", "-m", "build", "--outdir", str(DIST), ".")
    session.run("python", "-m", "build", "--outdir", str(DIST), str(SANDBOX))
    session.run("twine", "check", "--strict", *(str(path) for path in sorted(DIST.iterdir())))
    (sdist,) = DIST.glob(MAIN_SDISTS)
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    # tests/sandbox/ is the suite's (the sdist runs it), not a sandbox module.
    if leaked := [name for name in names if sandbox_module(name.split("/"))]:
        session.error(f"the sdist holds sandbox modules: {leaked}")
    (sandbox_wheel,) = DIST.glob(SANDBOX_WHEELS)
    with tempfile.TemporaryDirectory() as unpacked:
        with tarfile.open(sdist) as archive:
            archive.extractall(unpacked, filter="data")
        (source,) = pathlib.Path(unpacked).iterdir()
        session.install(str(sandbox_wheel), f"{source}[test]")
        with session.chdir(source):
            session.run(*PYTEST, "-x", *session.posargs)


# The wheel alone, outside the source tree, as a site would install it: a fresh venv,
# the runtime dependencies only, a configured Django and its system checks.
SITE = """
import importlib.metadata, django
from django.conf import settings
settings.configure(
    DEBUG=True,
    SECRET_KEY="the wheel's own check, not a secret",
    INSTALLED_APPS=[
        "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
        "django_otp", "django_otp.plugins.otp_totp", "django_sms_gateway",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django_otp.middleware.OTPMiddleware",
        "django_sms_gateway.middleware.SMSRequestMiddleware",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    SMS_GATEWAYS={"test": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"}},
)
django.setup()
from django.core.management import call_command
"""
# Without phonenumbers or phonenumberslite the site still starts, and the checks say what is missing.
MISSING_LIBRARY_CHECK = SITE + """
from django.core.management.base import SystemCheckError
try:
    call_command("check")
except SystemCheckError as error:
    assert "(sms_gateway.E023)" in str(error) and str(error).count("(sms_gateway.") == 1, error
else:
    raise AssertionError("no phone-number library is installed, and the checks say nothing")
print("without a phone-number library: check sms_gateway.E023, nothing else")
"""
# With the phone-number library of the extra.
IMPORT_CHECK = SITE + """
from importlib.resources import files
import django_sms_gateway.models
call_command("check", fail_level="WARNING")  # a site installed as the docs say has no issue
call_command("migrate", verbosity=0)
package = files("django_sms_gateway")
for data in ("py.typed", "locale/nb/LC_MESSAGES/django.mo", "templates"):
    assert (package / data).is_file() or (package / data).is_dir(), f"the wheel lacks {data}"
print("django-otp-sms-gateway", importlib.metadata.version("django-otp-sms-gateway"), "imports and checks")
"""


# The sandbox's wheel beside it: it serves and stops without importing the app, and
# registers its pytest plugin.
SANDBOX_CHECK = """
import importlib.metadata, sys
import sms_sandbox
assert not [name for name in sys.modules if name.startswith("django_sms_gateway")], "the sandbox imports the app"
with sms_sandbox.Sandbox() as running:
    assert running.port and set(sms_sandbox.VENDORS) == set(sms_sandbox.CREDENTIALS)
plugins = {e.value for e in importlib.metadata.entry_points(group="pytest11")}
assert "sms_sandbox.pytest_plugin" in plugins, plugins
print("django-otp-sms-gateway-sandbox", importlib.metadata.version("django-otp-sms-gateway-sandbox"), "serves")
"""


def absolute_imports(source: bytes, filename: str) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every absolute import in ``source``, wherever it is."""
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module


def wheel_problems(wheel: pathlib.Path) -> list[str]:
    """What the main wheel must not hold: a sandbox file, or a module importing pytest."""
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if "sandbox" in name:
                problems.append(f"{name}: a sandbox file")
            elif name.endswith(".py"):
                problems += [
                    f"{name}:{line}: imports {module}"
                    for line, module in absolute_imports(archive.read(name), name)
                    if module.split(".")[0] in ("pytest", "_pytest")
                ]
    return problems


@nox.session(python=PYTHONS, reuse_venv=False)
def wheel(session: nox.Session) -> None:
    """Install the built wheel (``nox -s package`` first) into a fresh venv and use it.

    The wheel must hold no sandbox file and no module importing pytest. Alone it loads and
    its check reports the missing phone-number library; with its ``[phonenumberslite]``
    extra every check passes; the sandbox's wheel is then installed beside it and started."""
    wheels = sorted(DIST.glob(MAIN_WHEELS))
    sandbox_wheels = sorted(DIST.glob(SANDBOX_WHEELS))
    if not wheels or not sandbox_wheels:
        session.error("no wheels in dist/: run `nox -s package` first")
    if problems := wheel_problems(wheels[-1]):
        session.error("the wheel holds what a site must not install:\n" + "\n".join(problems))
    session.install(str(wheels[-1]))
    with session.chdir(session.create_tmp()):
        session.run("python", "-c", MISSING_LIBRARY_CHECK)
        session.install(f"{wheels[-1]}[phonenumberslite]")
        session.run("python", "-c", IMPORT_CHECK)
        session.install(str(sandbox_wheels[-1]))
        session.run("python", "-c", SANDBOX_CHECK)
