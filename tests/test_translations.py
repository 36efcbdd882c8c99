"""The SMS text and user-facing messages ship in nb, sv and id; the SMS goes
out in the language active for the request."""

import ast
import gettext
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import translation

import django_sms_gateway
from django_sms_gateway import checks, dispatch
from django_sms_gateway.conf import DEFAULTS
from django_sms_gateway.exceptions import DeliveryFailed
from django_sms_gateway.phone import normalize_number
from django_sms_gateway.testing import last_code
from django_sms_gateway.text import GSM7, compile_template

LANGUAGES = ("nb", "sv", "id")
LOCALE = Path(django_sms_gateway.__file__).parent / "locale"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogues_are_compiled_and_shipped(language):
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    assert po.is_file() and mo.is_file()
    entries = po.read_text(encoding="utf-8").split("\n\n")[1:]
    assert not [e for e in entries if e.rstrip().endswith('msgstr ""')], "untranslated strings"
    msgids = {ast.literal_eval(line[6:]) for e in entries for line in e.splitlines() if line.startswith("msgid ")}
    with mo.open("rb") as stream:
        compiled = gettext.GNUTranslations(stream)._catalog  # type: ignore[attr-defined]
    compiled_ids = {key[0] if isinstance(key, tuple) else key for key in compiled}
    assert msgids - {""} <= compiled_ids, "the .mo is stale: run `make messages`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_message_template_keeps_its_placeholders_and_fits_one_gsm7_sms(language):
    with translation.override(language):
        source = str(DEFAULTS["OTP_SMS_MESSAGE"])
    assert source != str(DEFAULTS["OTP_SMS_MESSAGE"]), "not translated"
    template = compile_template(source)  # raises without {token}
    assert "{minutes}" in source
    worst = template.worst_case(10, minutes=999, site_name="")
    assert worst.encoding == GSM7 and worst.segments == 1


def test_every_shipped_language_passes_the_template_checks():
    with override_settings(
        SMS_GATEWAYS={"short": {"BACKEND": "tests.fakes.FailingBackend"}},  # max_segments = 1
        LANGUAGES=[("en", "English"), ("nb", "Norsk"), ("sv", "Svenska"), ("id", "Indonesia")],
        DEBUG=True,
    ):
        assert checks.check_gateways() == []
        assert len(dispatch.message_sources()) == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nb", "Din bekreftelseskode er {code}. Den utløper om 5 minutter."),
        ("sv", "Din verifieringskod är {code}. Den upphör att gälla om 5 minuter."),
        ("id", "Kode verifikasi Anda {code}. Berlaku selama 5 menit."),
        ("en", "Your verification code is {code}. It expires in 5 minutes."),
    ],
)
def test_sms_goes_out_in_the_active_language(device, sms_outbox, language, expected):
    with translation.override(language):
        sentence = device.generate_challenge()
    assert sms_outbox[0].text == expected.format(code=last_code())
    if language == "nb":
        assert sentence == "Vi har sendt en kode på SMS til +47******32."


def test_user_facing_errors_are_translated():
    with translation.override("sv"):
        assert str(DeliveryFailed()) == "Vi kunde inte skicka sms:et. Försök igen om några minuter."
        with pytest.raises(Exception) as info:
            normalize_number("+47 800 12 345")
        assert info.value.messages == ["Avgiftsfria nummer kan inte ta emot koder."]
    with translation.override("id"):
        with pytest.raises(Exception) as info:
            normalize_number("98765432")
        assert info.value.messages == ["Masukkan nomor telepon beserta kode negaranya, diawali dengan +."]
