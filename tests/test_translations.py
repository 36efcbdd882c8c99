"""The SMS text and user-facing messages ship in nb, sv and id; the SMS goes
out in the language active for the request."""

import ast
import gettext
import json
import re
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import translation

import django_sms_gateway
from django_sms_gateway import checks, dispatch
from django_sms_gateway.conf import settings
from django_sms_gateway.exceptions import DeliveryFailed, wait_text
from django_sms_gateway.forms import SMSTokenForm
from django_sms_gateway.phone import normalize_number
from django_sms_gateway.testing import last_code
from django_sms_gateway.text import GSM7, compile_template
from django_sms_gateway.views import countdown

LANGUAGES = ("nb", "sv", "id")
LOCALE = Path(django_sms_gateway.__file__).parent / "locale"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogues_are_compiled_and_shipped(language):
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    assert po.is_file() and mo.is_file()
    entries = po.read_text(encoding="utf-8").split("\n\n")[1:]
    assert not [e for e in entries if re.search(r'^msgstr(\[\d\])? ""\n(?!")', e + "\n", re.M)], "untranslated"
    assert not [e for e in entries if "fuzzy" in e], "fuzzy strings: check and translate them"
    msgids = {ast.literal_eval(line[6:]) for e in entries for line in e.splitlines() if line.startswith("msgid ")}
    with mo.open("rb") as stream:
        compiled = gettext.GNUTranslations(stream)._catalog  # type: ignore[attr-defined]
    compiled_ids = {key[0] if isinstance(key, tuple) else key for key in compiled}
    assert msgids - {""} <= compiled_ids, "the .mo is stale: run `make messages`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_message_template_keeps_its_placeholders_and_fits_one_gsm7_sms(language):
    message = settings.OTP_SMS_MESSAGE
    with translation.override(language):
        forms = message.forms()
    assert len(forms) == (1 if language == "id" else 2)  # Indonesian has one plural form
    assert not set(forms) & set(message.forms()), "not translated"
    for source in forms:
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
        assert len(dispatch.message_sources()) == 7  # two plural forms each in en, nb and sv; one in id


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nb", "Din bekreftelseskode er {code}. Den utløper om 1 minutt."),
        ("sv", "Din verifieringskod är {code}. Den upphör att gälla om 1 minut."),
        ("id", "Kode verifikasi Anda {code}. Berlaku selama 1 menit."),
        ("en", "Your verification code is {code}. It expires in 1 minute."),
    ],
)
def test_one_minute_is_singular_in_every_language(device, sms_outbox, settings, language, expected):
    settings.OTP_SMS_TOKEN_VALIDITY = 60
    with translation.override(language):
        device.generate_challenge()
    assert sms_outbox[0].text == expected.format(code=last_code())


@pytest.mark.parametrize(
    ("language", "waits", "hints"),
    [
        ("en", ("Wait 1 second before the next try.", "Wait 2 seconds before the next try."),
         ("You can ask for a new code in 1 second.", "You can ask for a new code in 2 seconds.")),
        ("nb", ("Vent 1 sekund før neste forsøk.", "Vent 2 sekunder før neste forsøk."),
         ("Du kan be om en ny kode om 1 sekund.", "Du kan be om en ny kode om 2 sekunder.")),
        ("sv", ("Vänta 1 sekund innan nästa försök.", "Vänta 2 sekunder innan nästa försök."),
         ("Du kan be om en ny kod om 1 sekund.", "Du kan be om en ny kod om 2 sekunder.")),
        ("id", ("Tunggu 1 detik sebelum mencoba lagi.", "Tunggu 2 detik sebelum mencoba lagi."),
         ("Anda dapat meminta kode baru dalam 1 detik.", "Anda dapat meminta kode baru dalam 2 detik.")),
    ],
)
def test_counts_on_pages_take_the_languages_plural_forms(language, waits, hints):
    messages = SMSTokenForm.otp_error_messages
    throttle = (messages["n_failed_attempts"], messages["n_failed_attempts_minutes"])
    with translation.override(language):
        assert (wait_text(1, throttle), wait_text(2, throttle)) == waits
        hint = countdown(2)
    # What the page's script counts down with: each form once, and which form each count takes.
    sentences = json.loads(hint["sentences"])
    assert len(sentences) == (1 if language == "id" else 2)
    assert tuple(sentences[int(hint["forms"][count])] % {"count": count} for count in (1, 2)) == hints


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
