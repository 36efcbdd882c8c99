"""The install guide and the django-two-factor-auth guide, followed literally in a new site
(``django-admin startproject``), end signed in with a code sent by text message.

Each site is built from the page's own blocks alone (tests/guide_site.py says how a block
becomes a step); the reader then signs in through a browser and reads the code where the
page says it appears, the terminal of the development server.
"""

import pathlib

import pytest

from tests import guide_site

ROOT = pathlib.Path(__file__).resolve().parent.parent
INSTALL = ROOT / "docs" / "install.md"
TWO_FACTOR = ROOT / "docs" / "two-factor.md"


def test_the_install_guide_ends_signed_in_through_the_sms_step(tmp_path):
    site = guide_site.build(INSTALL, tmp_path / "site")
    assert {"settings.py", "urls.py", "views.py", "shell", "migrate", "createsuperuser", "runserver"} <= {
        step.split()[0] for step in site.steps
    }
    site.manage("check", "--fail-level", "WARNING")  # the guide's site has nothing to warn about

    result = guide_site.sign_in(site, "sms-step")

    assert result["verified"] and result["codes"] == 1
    assert result["seen"][0].startswith("/accounts/login/?next=%2Fsms%2Fverify%2F")  # the step asked for the password
    assert result["seen"][-1] == "/" and "Signed in as admin with a code by text message." in result["text"]


def test_the_two_factor_guide_ends_signed_in_through_its_wizard(tmp_path):
    pytest.importorskip("two_factor", reason="install the test extra (django-two-factor-auth)")
    site = guide_site.build(TWO_FACTOR, tmp_path / "site")
    assert {"settings.py", "urls.py", "migrate", "createsuperuser", "runserver"} <= {
        step.split()[0] for step in site.steps
    }
    site.manage("check", "--fail-level", "WARNING")

    result = guide_site.sign_in(site, "two-factor")

    assert result["enrolled"] == "/account/two_factor/setup/complete/"
    assert result["seen"][0] == "/account/login/?next=%2Faccount%2Ftwo_factor%2F"
    assert result["verified"] and result["seen"][-1] == "/account/two_factor/"
    assert len(result["codes"]) == 2  # two texts: the enrolment's and the sign-in's


def test_a_block_the_test_cannot_follow_fails_the_build(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```sh\ncurl https://example.com/install.sh | sh\n```\n")
    with pytest.raises(AssertionError, match="cannot follow"):
        guide_site.build(page, tmp_path / "site")


def test_a_page_without_runserver_is_no_guide(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\n# settings.py\nINSTALLED_APPS += []\n```\n")
    with pytest.raises(AssertionError, match="runserver"):
        guide_site.build(page, tmp_path / "site")
