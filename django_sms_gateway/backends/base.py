"""The contract every SMS backend fulfils, whatever protocol it speaks.

A backend is built once per process per ``SMS_GATEWAYS`` alias (see
:mod:`django_sms_gateway.dispatch`) and must be safe to call from several
threads at once. It declares its ``OPTIONS`` as :class:`Option` specs, which
are validated when it is built (a
:class:`~django_sms_gateway.exceptions.ConfigurationError` that names the
alias and the option, check :data:`~django_sms_gateway.checks.E005`), and then sends one
:class:`SMSMessage` per :meth:`BaseBackend.send` call, raising a
:class:`~django_sms_gateway.exceptions.GatewayError` subclass on failure.

Sender IDs and recipient numbers follow the shapes SMS vendors accept.
Signicat documents the sender rule (numeric up to 15 digits, or 1-11
characters of ``[A-Za-z0-9 ]``) and the recipient rule (E.164, at most 15
digits); other vendors that take a free sender field use the same rule
(:func:`sender_problem`, :func:`is_e164`). A vendor that wants the number
in another form takes it from :data:`PHONE_FORMATS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from ..checks import E005
from ..exceptions import ConfigurationError, GatewayError, RecipientRefused, RequestRejected
from ..phone import mask_number, national_number
from ..text import MessageTemplate, SegmentInfo, segment_info, whole_minutes

_MISSING = object()
#: Marks an option that must be given in ``OPTIONS``.
REQUIRED: Any = _MISSING

#: ``+`` optional, then 1-15 digits.
NUMERIC_SENDER = re.compile(r"\+?[0-9]{1,15}")
#: 1-11 letters, digits and spaces (the GSM alphanumeric originator limit).
ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}")
#: ``+``, a country code not starting with 0, at most 15 digits in all.
E164_NUMBER = re.compile(r"\+[1-9][0-9]{1,14}")


def sender_problem(sender: object) -> str | None:
    """Why ``sender`` is not a valid sender ID, or None when it is."""
    if not isinstance(sender, str):
        return f"must be a string, not {type(sender).__name__}"
    if NUMERIC_SENDER.fullmatch(sender):
        return None
    if ALPHANUMERIC_SENDER.fullmatch(sender) and sender.strip():
        return None
    return (
        "must be numeric (up to 15 digits, optionally starting with +) or "
        "alphanumeric (1 to 11 characters of A-Z, a-z, 0-9 and space)"
    )


def is_e164(number: object) -> bool:
    """True for an E.164 number such as ``+4798765432``."""
    return isinstance(number, str) and E164_NUMBER.fullmatch(number) is not None


#: The number formats a vendor option may name -> that form of an E.164 number.
PHONE_FORMATS = {
    "e164": lambda recipient: recipient,
    "digits": lambda recipient: recipient.lstrip("+"),
    "national": national_number,
}

OptionKind = Literal["any", "text", "secret", "credential", "bool", "int", "choice", "url", "sender"]

#: Credentials left as a guide's example, compared in lower case without spaces, dots, ``-`` and ``_``
#: (when the value has only letters and those): nobody's real key or id is one of these words.
PLACEHOLDER_WORDS = frozenset({
    "changeme", "replaceme", "placeholder", "todo", "fixme", "tbd", "none", "null", "undefined", "password",
    "apikey", "apisecret", "apitoken", "apiid", "authtoken", "accesstoken", "accountsid", "apikeysid",
    "apikeysecret", "clientid", "clientsecret", "secretkey", "serviceplanid", "webhooksecret", "signaturesecret",
})
#: Only punctuation a guide fills a blank with, or ``x``s among it, three or more (``...``, ``xxx``, ``XXXX-XXXX``).
_FILLER = re.compile(r"[.\u2026*#?_\- ]+|[xX.\u2026*#?_\- ]{3,}")
#: A name to fill in, in a guide's or a template's brackets: ``<api key>``, ``{API_KEY}``, ``${API_KEY}``.
_TO_FILL_IN = re.compile(r"<[^<>]*>|\{\{?[^{}]*\}?\}|\$\{?\w+\}?|%\(\w+\)s")
#: What a copy of a masked or shortened credential holds; no vendor's credential alphabet has it.
_CUT_SHORT = re.compile(r"\.\.\.|\u2026|\*\*\*")
_WORDS_ONLY = re.compile(r"[A-Za-z][A-Za-z .\-_]*")


def placeholder_problem(value: str) -> str | None:
    """Why the credential ``value`` is an example's placeholder rather than a
    credential, or None. Conservative: it refuses only what no vendor issues
    (filler such as ``...`` or ``xxx``, a name in brackets such as
    ``<your-api-key>`` or ``${API_KEY}``, a masked or shortened copy holding
    ``...`` or ``***``, the words of :data:`PLACEHOLDER_WORDS`, words starting
    with "your"); the problem never repeats the value."""
    text = value.strip()
    if _CUT_SHORT.search(text) and not _FILLER.fullmatch(text):
        return "looks masked or cut short ('...', '***'): copy the whole credential from the vendor's console"
    word = re.sub(r"[ .\-_]", "", text.lower()) if _WORDS_ONLY.fullmatch(text) else ""
    if (
        _FILLER.fullmatch(text) or _TO_FILL_IN.fullmatch(text)
        or word in PLACEHOLDER_WORDS or word.startswith("your")
    ):
        return "is a placeholder, not a credential: set the value the vendor gave you"
    return None


@dataclass(frozen=True, slots=True)
class Option:
    """One name a backend accepts in ``OPTIONS``.

    ``kind`` gives the rule every value of that option must follow:
    ``text`` a non-empty string of printable characters; ``credential`` (an
    account, key or client id) and ``secret`` (never repeated in an error)
    also no placeholder left from an example (:func:`placeholder_problem`);
    ``bool`` True or False,
    ``int`` a whole number within ``minimum``/``maximum``, ``choice`` one of
    ``choices``, ``url`` an http(s) URL, ``sender`` a sender ID
    (:func:`sender_problem`), ``any`` no rule. ``None`` is accepted where it is
    the default. ``check`` adds a rule of the option's own: it returns the
    problem (completing "option 'x' ...") or None. ``doc`` says what the
    option does, for error hints and the documentation.
    """

    default: Any = REQUIRED
    kind: OptionKind = "any"
    choices: tuple[Any, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    check: Callable[[Any], str | None] | None = None
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit this option, or None."""
        if value is None and self.default is None:
            return None
        rule = _KIND_RULES[self.kind](self, value)
        if rule is None and self.check is not None:
            rule = self.check(value)
        return rule


def _text_problem(option: Option, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if not value.isprintable():
        return "contains control characters"
    return None


def _credential_problem(option: Option, value: Any) -> str | None:
    return _text_problem(option, value) or placeholder_problem(value)


def _int_problem(option: Option, value: Any) -> str | None:
    low, high = option.minimum, option.maximum
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low) or (
        high is not None and value > high
    ):
        if low is not None and high is not None:
            return f"must be a whole number from {low} to {high}, not {value!r}"
        if low is not None:
            return f"must be a whole number of at least {low}, not {value!r}"
        return f"must be a whole number, not {value!r}"
    return None


def _url_problem(option: Option, value: Any) -> str | None:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        return f"must be an http(s) URL, not {value!r}"
    return None


_KIND_RULES: dict[str, Callable[[Option, Any], str | None]] = {
    "any": lambda option, value: None,
    "text": _text_problem,
    "secret": _credential_problem,
    "credential": _credential_problem,
    "bool": lambda option, value: None if isinstance(value, bool) else "must be True or False",
    "int": _int_problem,
    "choice": lambda option, value: None
    if value in option.choices
    else f"must be one of {', '.join(map(repr, option.choices))}, not {value!r}",
    "url": _url_problem,
    "sender": lambda option, value: sender_problem(value),
}


@dataclass(frozen=True, slots=True)
class SMSMessage:
    """One code to deliver.

    ``text`` is the rendered message. ``code`` and ``template`` are there for
    vendors that render the text themselves (vendor-held templates) or make
    their own code (``template.render("{0}", ...)`` gives a vendor format).
    ``minutes`` and the SMS parts (:meth:`segment_info`) are worked out once,
    when the message is made, not by each gateway it is offered to.
    Never log ``code`` or ``text``; ``repr()`` hides both.
    """

    recipient: str  # E.164
    text: str = field(repr=False)
    code: str = field(repr=False)
    validity: int = 300  # seconds the code is valid
    template: MessageTemplate | None = field(default=None, repr=False)
    site_name: str = ""
    #: ``validity`` in the whole minutes a user is told.
    minutes: int = field(init=False, repr=False, compare=False)
    _segments: SegmentInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        minutes = whole_minutes(self.validity)
        object.__setattr__(self, "minutes", minutes)
        code, template = self.code, self.template
        if (
            template is not None
            and code.isascii()
            and code.isdigit()
            and self.text == template.render(code, minutes=minutes, site_name=self.site_name)
        ):
            # What the template needs for that many digits, counted once per template, not per message.
            segments = template.worst_case(len(code), minutes=minutes, site_name=self.site_name)
        else:
            segments = segment_info(self.text)
        object.__setattr__(self, "_segments", segments)

    @property
    def masked_recipient(self) -> str:
        return mask_number(self.recipient)

    def segment_info(self) -> SegmentInfo:
        """Units and SMS parts of ``text``; for a text rendered from
        ``template`` with a digit code, what the template needs for a code
        of that many digits."""
        return self._segments

    def render(self, token: str) -> str:
        """The message text with ``token`` in place of the code."""
        if self.template is None:
            return self.text.replace(self.code, token)
        return self.template.render(token, minutes=self.minutes, site_name=self.site_name)


#: Most SMS parts a delivery record holds (its column's limit on every
#: database Django supports); a vendor's larger count is not believed.
SEGMENTS_MAX = 32767


@dataclass(slots=True)
class SendResult:
    """What the vendor told us about an accepted message."""

    reference: str | None = None  # vendor's message / session / request id
    status: str = "accepted"  # vendor's status word, kept raw
    segments: int | None = None
    charge: int | None = None


@dataclass(frozen=True, slots=True)
class CredentialCheck:
    """What a vendor said of our credentials when asked something harmless
    (no SMS sent): ``accepted``, ``refused``, ``unchecked`` (no verdict: the
    vendor could not be reached, or its answer did not tell) or
    ``unsupported`` (the vendor has no such question: only a real send can
    tell); ``detail`` is a short sentence of ours, never a vendor body or a
    credential."""

    outcome: Literal["accepted", "refused", "unchecked", "unsupported"]
    detail: str = ""


class BaseBackend:
    """Base of every backend.

    Subclasses declare ``options``: a mapping of option name to
    :class:`Option`. ``OPTIONS`` names not in it are refused, and every
    value given must follow its option's rule. :meth:`check_options` may
    check what involves several options or other settings.
    """

    #: Option name -> :class:`Option`.
    options: ClassVar[Mapping[str, Option]] = {}
    #: The vendor makes and checks the code itself (see :meth:`verify`).
    verifies_codes: ClassVar[bool] = False
    #: Most SMS parts this backend may send for one message.
    max_segments: int = 1
    #: The text sent is ``OTP_SMS_MESSAGE`` (False when the backend has its own).
    uses_site_message: bool = True
    #: The text sent ends with the origin-bound lines of ``OTP_SMS_ORIGIN``
    #: (False when the vendor renders the text from a template it holds).
    adds_origin_lines: ClassVar[bool] = True
    #: Circuit breaker (see :mod:`django_sms_gateway.breaker`): consecutive
    #: failures that open it (0: off) and seconds it stays open. Set from the
    #: ``SMS_GATEWAYS`` entry; None reads ``OTP_SMS_BREAKER_THRESHOLD`` /
    #: ``OTP_SMS_BREAKER_COOLOFF`` at send time.
    breaker_threshold: int | None = None
    breaker_cooloff: float | None = None

    def __init__(
        self,
        alias: str,
        options: Mapping[str, Any] | None = None,
        *,
        countries: Iterable[str] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.alias = alias
        self.timeout = float(timeout)
        self.countries = frozenset(c.upper() for c in countries) if countries else None
        if not isinstance(options, Mapping | None):
            raise self.config_error(f"OPTIONS must be a dict, not {type(options).__name__}")
        given = dict(options or {})
        specs = self.options
        unknown = sorted(set(given) - set(specs), key=str)
        if unknown:
            allowed = ", ".join(sorted(specs)) or "none"
            raise self.config_error(f"unknown option {unknown[0]!r} (allowed: {allowed})")
        self.config: dict[str, Any] = {}
        for name, spec in specs.items():
            value = given.get(name, spec.default)
            if value is _MISSING or (name in given and spec.required and value in (None, "")):
                raise self.config_error(f"option {name!r} is required")
            if name in given:
                problem = spec.problem(value)
                if problem:
                    raise self.config_error(f"option {name!r} {problem}")
            self.config[name] = value
        self.check_options()

    def config_error(self, problem: str, *, check_id: str = E005) -> ConfigurationError:
        """The error for a problem with this gateway's settings (``problem``
        names the option); ``check_id`` is the system check reporting it."""
        return ConfigurationError(
            f"SMS_GATEWAYS[{self.alias!r}] ({type(self).__name__}): {problem}",
            check_id=check_id,
            hint=f"Fix SMS_GATEWAYS[{self.alias!r}]['OPTIONS']. {self.options_hint()}",
            obj=f"SMS_GATEWAYS[{self.alias!r}]",
        )

    @classmethod
    def options_hint(cls) -> str:
        """Which options this backend requires and which it also accepts."""
        specs = cls.options
        required = sorted(name for name, spec in specs.items() if spec.required)
        optional = sorted(name for name, spec in specs.items() if not spec.required)
        return (
            f"{cls.__name__} OPTIONS: required: {', '.join(required) or 'none'}; "
            f"optional: {', '.join(optional) or 'none'}."
        )

    def check_options(self) -> None:
        """Validate option values; raise ``self.config_error(...)``."""

    def error(self, cls: type[GatewayError], reason: str, **kwargs: Any) -> GatewayError:
        """A ``cls`` failure of this gateway; ``reason`` is ours, short and safe to log."""
        return cls(reason, alias=self.alias, **kwargs)

    def checked_text_message(self, message: SMSMessage, parts_note: str) -> tuple[str, SegmentInfo]:
        """The sender and SMS parts of ``message`` for a vendor that sends the
        text it is given; a GatewayError, with nothing sent, for a missing
        sender or one outside the rules (:func:`sender_problem`), a recipient
        that is not E.164, an empty text or more parts than ``max_segments``
        (``parts_note`` says what the vendor allows)."""
        sender = self.config.get("sender")
        if sender is None:
            raise self.error(RequestRejected, "no sender configured")
        problem = sender_problem(sender)
        if problem:
            raise self.error(RequestRejected, f"sender {problem}")
        return str(sender), self.checked_parts(message, parts_note)

    def checked_parts(self, message: SMSMessage, parts_note: str) -> SegmentInfo:
        """The SMS parts of ``message`` for a vendor that picks the sender
        itself; the checks of :meth:`checked_text_message` but the sender's."""
        if not is_e164(message.recipient):
            raise self.error(RecipientRefused, "recipient is not an E.164 number")
        if not message.text:
            raise self.error(RequestRejected, "message is empty")
        info = message.segment_info()
        if info.segments > self.max_segments:
            raise self.error(
                RequestRejected,
                f"message needs {info.segments} SMS parts ({info.units} {info.encoding} units); {parts_note}",
            )
        return info

    @property
    def receipts(self) -> bool:
        """Whether this gateway, as configured, sends delivery receipts that
        we read (typically: its callback option is set). Only sends through a
        gateway with receipts get a delivery deadline
        (``OTP_SMS_DELIVERY_DEADLINE``); vendor backends that read receipts
        override this."""
        return False

    def serves(self, region: str | None) -> bool:
        """May this gateway send to numbers of ``region`` (ISO 3166)?"""
        return self.countries is None or (region is not None and region in self.countries)

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        """Deliver ``message`` within ``timeout`` seconds or raise a
        :class:`~django_sms_gateway.exceptions.GatewayError`."""
        raise NotImplementedError

    def verify(self, recipient: str, code: str, *, timeout: float) -> bool:
        """For ``verifies_codes`` backends: ask the vendor whether ``code`` is
        the one it sent to ``recipient``. Raises a GatewayError when the vendor
        cannot answer."""
        raise NotImplementedError(f"{type(self).__name__} does not verify codes")

    def check_credentials(self, *, timeout: float) -> CredentialCheck:
        """Ask the vendor something harmless that tells whether it accepts
        our credentials, without sending an SMS. Backends whose vendor has
        no such question keep this answer."""
        return CredentialCheck("unsupported", "only a real send can tell")

    def close(self) -> None:
        """Release connections; called when settings change."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias!r}>"


def matches(pattern: str, problem: str) -> Callable[[Any], str | None]:
    """An :class:`Option` ``check`` of a ``text`` option: ``problem`` unless
    the whole value matches ``pattern``."""
    compiled = re.compile(pattern)
    return lambda value: None if compiled.fullmatch(value) else problem


def status_words_problem(value: Any) -> str | None:
    """An :class:`Option` ``check``: why ``value`` is not a list of a
    vendor's status words, or None."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        return "must be a list of status words"
    words = list(value)
    if not words or not all(isinstance(w, str) and w.strip() and w.isprintable() for w in words):
        return "must list at least one non-empty status word"
    return None
