"""Follow a page of docs/ literally in a new Django site (used by tests/test_guides.py).

:func:`build` makes the site the way the page tells a reader to: ``django-admin
startproject mysite``, then each fenced block in the page's order.

- A ```python block whose first line names a file (``# settings.py``, ``# urls.py``,
  ``# views.py``) goes into the project package: added to the end of ``settings.py``,
  replacing any other file. ``# python manage.py shell`` runs the block in that shell.
- An ```html block whose first line is ``<!-- path -->`` is written to that path.
- Each line of an ```sh block is a command: ``pip install`` is what the test environment
  already did (tests/test_phone_library.py reads those lines); ``python manage.py ...``
  runs in the site, with ``createsuperuser``'s questions answered as :data:`USER` and
  :data:`PASSWORD`; ``runserver`` is where the reader opens the browser, so building
  stops there. Any other command fails the build: the test cannot follow it.

Every other block (no file named on its first line) is reference, not a step.

Run as ``python -m tests.guide_site FLOW`` inside the built site, this module is the
reader in a browser (Django's test client with CSRF checks, reading pages, following
links and submitting forms by what they show), who reads codes in the terminal where
the console backend prints them. It prints one JSON line: the pages seen and whether
the session ended verified.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
from html.parser import HTMLParser
from typing import Any

#: The user ``createsuperuser`` makes, and the number the reader types.
USER = "admin"
PASSWORD = "a long passphrase for the guide"  # noqa: S105
NUMBER = "+4798765432"
PROJECT = "mysite"

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>\w*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.DOTALL | re.MULTILINE)
FILE_LABEL = re.compile(r"^# (?P<file>[\w/]+\.py)$")
SHELL_LABEL = "# python manage.py shell"
HTML_LABEL = re.compile(r"^<!-- (?P<file>[\w/.-]+) -->$")
#: A six-digit code in what the console backend printed (not part of a phone number).
CODE = re.compile(r"(?<![\d+])\d{6}(?!\d)")


@dataclasses.dataclass
class Block:
    lang: str
    body: str

    @property
    def first_line(self) -> str:
        return self.body.split("\n", 1)[0].strip()


def blocks(page: pathlib.Path) -> list[Block]:
    """The fenced blocks of ``page``, in order (an indented block is dedented)."""
    found = []
    for match in FENCE.finditer(page.read_text(encoding="utf-8")):
        indent = match["indent"]
        lines = [line.removeprefix(indent) for line in match["body"].splitlines()]
        found.append(Block(match["lang"], "\n".join(lines) + "\n"))
    return found


def environment() -> dict[str, str]:
    """The test run's environment without what points at the test suite's own site."""
    skipped = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"}
    return {key: value for key, value in os.environ.items() if key not in skipped}


def run(command: list[str], site: pathlib.Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(  # noqa: S603  (fixed commands from the page)
        command, cwd=site, capture_output=True, text=True, check=False,
        env={**environment(), **kwargs.pop("env", {})}, timeout=300, **kwargs,
    )
    if done.returncode:
        raise AssertionError(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@dataclasses.dataclass
class Site:
    root: pathlib.Path
    steps: list[str] = dataclasses.field(default_factory=list)

    @property
    def package(self) -> pathlib.Path:
        return self.root / PROJECT

    def manage(self, *arguments: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "manage.py", *arguments], self.root, **kwargs)


def build(page: pathlib.Path, where: pathlib.Path) -> Site:
    """The site ``page`` makes, built in ``where`` up to its ``runserver``."""
    site = Site(where)
    where.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "django", "startproject", PROJECT, str(where)], where)
    for block in blocks(page):
        if block.lang == "python" and (label := FILE_LABEL.match(block.first_line)):
            target = site.package / label["file"]
            if label["file"] == "settings.py":
                target.write_text(target.read_text(encoding="utf-8") + "\n" + block.body, encoding="utf-8")
            else:
                target.write_text(block.body, encoding="utf-8")
            site.steps.append(label["file"])
        elif block.lang == "python" and block.first_line == SHELL_LABEL:
            site.manage("shell", "-c", block.body)
            site.steps.append("shell")
        elif block.lang == "html" and (label := HTML_LABEL.match(block.first_line)):
            target = where / label["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body, encoding="utf-8")
            site.steps.append(label["file"])
        elif block.lang == "sh":
            for line in block.body.splitlines():
                command = shlex.split(line, comments=True)
                if not command or command[:2] == ["pip", "install"]:
                    continue
                if command[:2] != ["python", "manage.py"]:
                    raise AssertionError(f"{page.name} asks for a command the test cannot follow: {line}")
                if command[2:3] == ["runserver"]:
                    site.steps.append("runserver")
                    return site
                site.steps.append(shlex.join(command[2:]))
                if command[2:3] == ["createsuperuser"]:
                    site.manage(*command[2:], "--noinput", env={
                        "DJANGO_SUPERUSER_USERNAME": USER, "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
                        "DJANGO_SUPERUSER_EMAIL": f"{USER}@example.com",
                    })
                else:
                    site.manage(*command[2:])
    raise AssertionError(f"{page.name} never says `python manage.py runserver`")


def sign_in(site: Site, flow: str) -> dict[str, Any]:
    """Run ``flow`` of :data:`FLOWS` as the reader in the built site; what they saw."""
    done = run(
        [sys.executable, "-m", "tests.guide_site", flow], site.root,
        env={"PYTHONPATH": os.pathsep.join([str(site.root), str(pathlib.Path(__file__).resolve().parents[1])]),
             "DJANGO_SETTINGS_MODULE": f"{PROJECT}.settings"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the reader in a browser (inside the site) --------------------------------------------------


@dataclasses.dataclass
class Field:
    kind: str  # an input's type, "button" (a submit button), "inert" (another button), "select", "textarea"
    name: str
    value: str
    checked: bool = False
    disabled: bool = False
    text: str = ""


@dataclasses.dataclass
class Form:
    action: str
    fields: list[Field] = dataclasses.field(default_factory=list)


class Page(HTMLParser):
    """The forms and links of one HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[tuple[str, str]] = []
        self._form: Form | None = None
        self._button: Field | None = None
        self._link: list[str] | None = None
        self._href = ""
        self._select: Field | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._form = Form(a.get("action", ""))
            self.forms.append(self._form)
        elif tag == "a" and "href" in a:
            self._link, self._href = [], a["href"]
        elif self._form is not None and tag in ("input", "button", "select", "textarea"):
            if tag == "input":
                kind = a.get("type", "text")
            elif tag == "button":  # only a submit button sends the form
                kind = "button" if a.get("type", "submit") == "submit" else "inert"
            else:
                kind = tag
            field = Field(kind, a.get("name", ""), a.get("value", ""), "checked" in a, "disabled" in a)
            if tag == "button":
                self._button = field
            elif tag == "select":
                self._select = field
            self._form.fields.append(field)
        elif tag == "option" and self._select is not None and ("selected" in a or not self._select.value):
            self._select.value = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None
        elif tag == "select":
            self._select = None
        elif tag == "a" and self._link is not None:
            self.links.append((" ".join("".join(self._link).split()), self._href))
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.text += data
        if self._link is not None:
            self._link.append(data)


class Browser:
    """Django's test client as the reader's browser; each code the console backend prints
    is collected in :attr:`codes`."""

    def __init__(self) -> None:
        from django.test import Client

        self.client = Client(enforce_csrf_checks=True)
        self.codes: list[str] = []
        self.seen: list[str] = []
        self.url = ""
        self.html = ""

    def _request(self, method: str, url: str, data: dict[str, str] | None = None) -> None:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            if method == "get":
                response = self.client.get(url, follow=True)
            else:
                response = self.client.post(url, data, follow=True)
        self.codes += CODE.findall(printed.getvalue())
        if response.status_code != 200:
            raise AssertionError(f"{method.upper()} {url}: {response.status_code}\n{response.content.decode()[:2000]}")
        self.url = response.wsgi_request.get_full_path()
        self.html = response.content.decode()
        self.seen.append(self.url)

    def open(self, url: str) -> None:
        self._request("get", url)

    def follow(self, text: str) -> None:
        """Click the link that reads ``text``."""
        hrefs = {href for label, href in Page(self.html).links if label == text}
        if len(hrefs) != 1:
            raise AssertionError(f"{self.url} has no single link {text!r}: {Page(self.html).links}")
        self.open(hrefs.pop())

    def submit(self, button: str, **typed: str) -> None:
        """Fill the form that has the button ``button`` ("" presses Enter in the form that has
        every field of ``typed``): each ``typed`` name is a field's name or the part after its
        wizard prefix (``username`` fills ``auth-username``)."""
        for form in Page(self.html).forms:
            buttons = [f for f in form.fields if f.kind == "button" and " ".join(f.text.split()) == button]
            names = {f.name for f in form.fields}
            if (button and not buttons) or any(not self._named(key, names) for key in typed):
                continue
            data: dict[str, str] = {}
            for field in form.fields:
                if field.disabled or not field.name or field.kind in ("button", "inert", "submit"):
                    continue
                if field.kind in ("radio", "checkbox") and not field.checked:
                    continue
                data[field.name] = field.value
            for key, value in typed.items():
                data[self._named(key, names)] = value
            if buttons and buttons[0].name:
                data[buttons[0].name] = buttons[0].value
            self._request("post", form.action or self.url, data)
            return
        raise AssertionError(f"{self.url} has no form with {button!r} and {sorted(typed)}:\n{self.html[:3000]}")

    @staticmethod
    def _named(key: str, names: set[str]) -> str:
        return next((name for name in sorted(names) if name == key or name.endswith(f"-{key}")), "")

    def verified(self) -> bool:
        from django_otp import DEVICE_ID_SESSION_KEY

        return bool(self.client.session.get(DEVICE_ID_SESSION_KEY))


def sms_step() -> dict[str, Any]:
    """docs/install.md: the page that needs the code, the password, Send code, the code."""
    browser = Browser()
    browser.open("/")
    browser.submit("Sign in", username=USER, password=PASSWORD)
    browser.submit("Send code")
    [code] = browser.codes
    browser.submit("Verify", otp_token=code)
    return {"seen": browser.seen, "text": browser.html, "verified": browser.verified(), "codes": len(browser.codes)}


def two_factor() -> dict[str, Any]:
    """docs/two-factor.md: enrol a phone in django-two-factor-auth's wizard, then sign in
    again in a new browser with the password and the code it sends."""
    browser = Browser()
    browser.open("/account/login/")
    browser.submit("Next", username=USER, password=PASSWORD)
    browser.follow("Enable Two-Factor Authentication")
    browser.submit("Next")  # the welcome step
    browser.submit("Next", method="sms")
    browser.submit("Next", number=NUMBER)
    [setup_code] = browser.codes
    browser.submit("Next", token=setup_code)
    enrolled = browser.seen[-1]

    browser = Browser()
    browser.open("/account/two_factor/")
    browser.submit("Next", username=USER, password=PASSWORD)
    [code] = browser.codes
    browser.submit("Next", otp_token=code)
    return {"enrolled": enrolled, "seen": browser.seen, "text": browser.html, "verified": browser.verified(),
            "codes": [setup_code, code]}


FLOWS = {"sms-step": sms_step, "two-factor": two_factor}


def main(flow: str) -> None:
    import django
    from django.test.utils import setup_test_environment

    django.setup()
    setup_test_environment()  # the test client's host, "testserver", is allowed
    result = FLOWS[flow]()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
