"""Admin for SMS devices (masked numbers, throttle state) and delivery records
(read-only, with per-gateway success rates, and a report of delivery rate and
median time to the delivered receipt per gateway and country)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connections, router
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    When,
    Window,
)
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import limits
from .breaker import HealthState, health_states
from .limits.counters import SharedCacheDown
from .management.commands import clearsmslimits
from .models import REBIND_REQUIRED, DeliveryRecord, NumberRange, SMSDevice, SMSDeviceQuerySet


@admin.register(SMSDevice)
class SMSDeviceAdmin(admin.ModelAdmin):
    """Lists show masked numbers only; the full number is on the change form,
    where it is edited and validated (``full_clean`` normalises it). The code
    hash is never shown."""

    list_display = ("user", "name", "masked_number", "confirmed", "failure_count", "locked_until",
                    "needs_new_binding", "last_used_at")
    list_filter = ("confirmed",)
    list_select_related = ("user",)
    search_fields = (f"user__{get_user_model().USERNAME_FIELD}", "name")
    raw_id_fields = ("user",)
    fieldsets = (
        (None, {"fields": ("user", "name", "number", "confirmed")}),
        (
            _("State"),
            {"fields": ("throttling_failure_count", "locked_until", "needs_new_binding", "last_generated_timestamp",
                        "last_used_at", "created_at")},
        ),
    )
    readonly_fields = ("throttling_failure_count", "locked_until", "needs_new_binding", "last_generated_timestamp",
                       "last_used_at", "created_at")
    actions = ("reset_throttling", "reset_cooldown", "clear_sending_limits", "require_new_binding")

    def save_model(self, request: HttpRequest, obj: SMSDevice, form: Any, change: bool) -> None:
        """A changed number is a new binding (see ``SMSDevice.rebind``): say so."""
        rebound = change and obj.number_changed
        super().save_model(request, obj, form, change)
        if rebound:
            self.message_user(
                request,
                _("The phone number changed, so the device is unconfirmed until a code sent to the new "
                  "number is entered, and its old code no longer works."),
                messages.WARNING,
            )

    @admin.display(description=_("phone number"))
    def masked_number(self, device: SMSDevice) -> str:
        return device.masked_number

    @admin.display(description=_("failed attempts"), ordering="throttling_failure_count")
    def failure_count(self, device: SMSDevice) -> int:
        return device.throttling_failure_count

    @admin.display(description=_("locked until"))
    def locked_until(self, device: SMSDevice) -> datetime | None:
        allowed, details = device.verify_is_allowed()
        if allowed or not details:
            return None
        locked: datetime | None = details.get("locked_until")
        return locked

    @admin.display(description=_("locked until re-bound"), boolean=True)
    def needs_new_binding(self, device: SMSDevice) -> bool:
        """OTP_SMS_MAX_FAILURES was reached: no code is accepted until a new
        binding or a reset of the throttling."""
        allowed, details = device.verify_is_allowed()
        return not allowed and (details or {}).get("reason") == REBIND_REQUIRED

    @admin.action(description=_("Reset throttling of the selected devices"), permissions=["change"])
    def reset_throttling(self, request: HttpRequest, queryset: SMSDeviceQuerySet) -> None:
        count = queryset.reset_throttling()
        self.message_user(
            request,
            ngettext("Throttling was reset for %(count)d device.", "Throttling was reset for %(count)d devices.",
                     count) % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Require a new binding of the selected devices"), permissions=["change"])
    def require_new_binding(self, request: HttpRequest, queryset: SMSDeviceQuerySet) -> None:
        """Unconfirm the devices and clear their codes, cooldowns and failure
        counts, as a changed number would: each must be confirmed again."""
        count = queryset.require_new_binding()
        self.message_user(
            request,
            ngettext("%(count)d device must now be confirmed again.",
                     "%(count)d devices must now be confirmed again.", count) % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Reset the code cooldown of the selected devices"), permissions=["change"])
    def reset_cooldown(self, request: HttpRequest, queryset: SMSDeviceQuerySet) -> None:
        count = queryset.reset_cooldown()
        self.message_user(
            request,
            ngettext("The cooldown was reset for %(count)d device.", "The cooldown was reset for %(count)d devices.",
                     count) % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Clear sending limits of the selected devices' users and numbers"),
                  permissions=["change"])
    def clear_sending_limits(self, request: HttpRequest, queryset: SMSDeviceQuerySet) -> None:
        """What ``manage.py clearsmslimits --user ... --number ...`` does for
        each selected device's user and number: their sending-limit counters,
        and the cooldown of their devices."""
        selected = list(queryset.values_list("user_id", "number"))
        try:
            clearsmslimits.clear_sending_limits(user_ids={user for user, _number in selected},
                                                numbers={number for _user, number in selected})
        except SharedCacheDown:
            self.message_user(
                request, _("The sending limits cache could not be reached, so nothing was cleared. Try again."),
                messages.ERROR,
            )
            return
        self.message_user(
            request,
            ngettext("The sending limits of the user and number of %(count)d device were cleared.",
                     "The sending limits of the users and numbers of %(count)d devices were cleared.",
                     len(selected)) % {"count": len(selected)},
            messages.SUCCESS,
        )


@dataclass(frozen=True)
class GatewayHealth:
    """One gateway's recent record, for the delivery changelist."""

    gateway: str
    sent_day: int = 0
    failed_day: int = 0
    sent_week: int = 0
    failed_week: int = 0
    last_failure_at: datetime | None = None
    last_failure_reason: str = ""

    @staticmethod
    def _rate(sent: int, failed: int) -> float | None:
        return 100.0 * sent / (sent + failed) if sent + failed else None

    @property
    def rate_day(self) -> float | None:
        """Percentage of attempts accepted in the last 24 hours (skips excluded)."""
        return self._rate(self.sent_day, self.failed_day)

    @property
    def rate_week(self) -> float | None:
        """Percentage of attempts accepted in the last 7 days (skips excluded)."""
        return self._rate(self.sent_week, self.failed_week)


def gateway_health(now: datetime | None = None) -> list[GatewayHealth]:
    """Per-gateway success rates over 24 h and 7 d and the last failure, in
    two aggregate queries whatever the number of records."""
    now = now or timezone.now()
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    sent, failed = Q(outcome=DeliveryRecord.Outcome.SENT), Q(outcome=DeliveryRecord.Outcome.FAILED)
    counts: dict[str, Mapping[str, Any]] = {
        row["gateway"]: row
        for row in DeliveryRecord.objects.filter(created_at__gte=week)
        .values("gateway")
        .annotate(
            sent_day=Count("id", filter=sent & Q(created_at__gte=day)),
            failed_day=Count("id", filter=failed & Q(created_at__gte=day)),
            sent_week=Count("id", filter=sent),
            failed_week=Count("id", filter=failed),
        )
        .order_by()
    }
    failures = DeliveryRecord.objects.filter(failed)
    latest = failures.filter(gateway=OuterRef("gateway")).order_by("-created_at", "-id")
    last: dict[str, Mapping[str, Any]] = {
        row["gateway"]: row
        for row in failures.values("gateway")
        .annotate(last_at=Max("created_at"), last_reason=Subquery(latest.values("reason")[:1]))
        .order_by()
    }
    return [
        GatewayHealth(
            gateway=gateway,
            sent_day=counts.get(gateway, {}).get("sent_day", 0),
            failed_day=counts.get(gateway, {}).get("failed_day", 0),
            sent_week=counts.get(gateway, {}).get("sent_week", 0),
            failed_week=counts.get(gateway, {}).get("failed_week", 0),
            last_failure_at=last.get(gateway, {}).get("last_at"),
            last_failure_reason=last.get(gateway, {}).get("last_reason") or "",
        )
        for gateway in sorted(set(counts) | set(last))
    ]


#: Days the delivery report may cover (the first is the default).
REPORT_DAYS = (7, 1, 30)


class _Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)``: the median, interpolated."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False


@dataclass(frozen=True)
class DeliveryRate:
    """What became of one gateway's messages to one country in the report's window."""

    gateway: str
    region: str
    delivered: int = 0
    failed: int = 0
    missing: int = 0
    pending: int = 0  # accepted, no final report yet
    median: timedelta | None = None  # created (sent) to the delivered receipt

    @property
    def final(self) -> int:
        return self.delivered + self.failed + self.missing

    @property
    def rate(self) -> float | None:
        """Percentage of the final reports that said delivered."""
        return 100.0 * self.delivered / self.final if self.final else None

    @property
    def median_seconds(self) -> float | None:
        return None if self.median is None else self.median.total_seconds()


def _took() -> ExpressionWrapper:
    return ExpressionWrapper(F("delivered_at") - F("created_at"), output_field=DurationField())


def delivery_rates(now: datetime | None = None, days: int = REPORT_DAYS[0]) -> list[DeliveryRate]:
    """Per gateway and region, the records sent in the last ``days`` days:
    delivered, failed, missing and pending counts and the median time from
    the send to the delivered receipt. One aggregate query on PostgreSQL
    (``percentile_cont``); elsewhere a second query ranks the delivered
    records with window functions and returns only each group's middle one or two."""
    since = (now or timezone.now()) - timedelta(days=days)
    records = DeliveryRecord.objects.filter(created_at__gte=since).exclude(delivery="")
    delivered = Q(delivery=DeliveryRecord.Delivery.DELIVERED)
    on_postgresql = connections[router.db_for_read(DeliveryRecord)].vendor == "postgresql"
    # percentile_cont skips NULLs; a CASE, as Aggregate's FILTER rendering changed in Django 6.0.
    took_if_delivered = Case(When(delivered & Q(delivered_at__isnull=False), then=_took()),
                             output_field=DurationField())
    median = {"median": _Median(took_if_delivered, output_field=DurationField())} if on_postgresql else {}
    rows: Iterable[Mapping[str, Any]] = (
        records.values("gateway", "region")
        .annotate(
            delivered=Count("id", filter=delivered),
            failed=Count("id", filter=Q(delivery=DeliveryRecord.Delivery.FAILED)),
            missing=Count("id", filter=Q(delivery=DeliveryRecord.Delivery.MISSING)),
            pending=Count("id", filter=Q(delivery=DeliveryRecord.Delivery.ACCEPTED)),
            **median,
        )
        .order_by("gateway", "region")
    )
    medians = {} if on_postgresql else _medians(records.filter(delivered, delivered_at__isnull=False))
    return [
        DeliveryRate(
            row["gateway"], row["region"], row["delivered"], row["failed"], row["missing"], row["pending"],
            row["median"] if on_postgresql else medians.get((row["gateway"], row["region"])),
        )
        for row in rows
    ]


def _medians(delivered: QuerySet[DeliveryRecord]) -> dict[tuple[str, str], timedelta]:
    """(gateway, region) -> median of ``delivered``'s times to the receipt:
    of each group of ``n`` ranked by time, the rows ranked ``p`` with
    ``n <= 2p <= n + 2`` (the middle one, or the middle two, averaged)."""
    groups = [F("gateway"), F("region")]
    middle = (
        delivered.annotate(
            took=_took(),
            rank=Window(RowNumber(), partition_by=groups, order_by=[F("took").asc(), F("id").asc()]),
            size=Window(Count("id"), partition_by=groups),
        )
        .annotate(twice=F("rank") * 2)
        .filter(twice__gte=F("size"), twice__lte=F("size") + 2)
        .values_list("gateway", "region", "took")
    )
    found: dict[tuple[str, str], list[timedelta]] = {}
    for gateway, region, took in middle:
        found.setdefault((gateway, region), []).append(took)
    return {group: sum(times, timedelta()) / len(times) for group, times in found.items()}


@admin.register(DeliveryRecord)
class DeliveryRecordAdmin(admin.ModelAdmin):
    """Read-only (records may be deleted); the changelist opens with each
    gateway's success rate and last failure, and links to the delivery report
    (:meth:`delivery_report_view`)."""

    list_display = ("created_at", "gateway", "outcome", "status", "reason", "segments", "charge", "elapsed_ms",
                    "number_masked")
    list_filter = ("gateway", "outcome", "status", ("created_at", admin.DateFieldListFilter))
    date_hierarchy = "created_at"
    search_fields = ("reference",)
    fields = ("created_at", "updated_at", "device", "gateway", "reference", "outcome", "status", "reason",
              "segments", "charge", "elapsed_ms", "number_masked")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"gateway_health": gateway_health(), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def get_urls(self) -> list[URLPattern]:
        report = path("delivery-report/", self.admin_site.admin_view(self.delivery_report_view),
                      name="django_sms_gateway_deliveryrecord_report")
        return [report, *super().get_urls()]

    def delivery_report_view(self, request: HttpRequest) -> HttpResponse:
        """Delivery rate and median time to delivered per gateway and country
        (``?days=`` one of :data:`REPORT_DAYS`), and the gateway/country
        pairs that delivery health skips now."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = int(request.GET.get("days", REPORT_DAYS[0]))
        except ValueError:
            days = REPORT_DAYS[0]
        if days not in REPORT_DAYS:
            days = REPORT_DAYS[0]
        rates = delivery_rates(days=days)
        tripped: list[HealthState] = health_states((rate.gateway, rate.region) for rate in rates)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Delivery by gateway and country"),
            "rates": rates,
            "days": days,
            "day_choices": REPORT_DAYS,
            "tripped": [
                {"state": state, "until": None if state.until is None else datetime.fromtimestamp(state.until, UTC)}
                for state in tripped
            ],
        }
        return TemplateResponse(request, "admin/django_sms_gateway/deliveryrecord/delivery_report.html", context)

# -- the fraud guard's number ranges ------------------------------------------------------------------


@admin.register(NumberRange)
class NumberRangeAdmin(admin.ModelAdmin):
    """The ranges the fraud guard throttled or blocked, and those an operator
    decided on, with their figures in the window from the limits cache.
    Release or block a range with the actions, or add one by hand."""

    list_display_base = ("range", "decision", "last_state", "last_tripped_at")
    list_filter = ("decision", "last_state")
    search_fields = ("range",)
    fields = ("range", "decision", "last_state", "last_tripped_at", "decided_at")
    readonly_fields = ("last_state", "last_tripped_at", "decided_at")
    actions = ("release_ranges", "block_ranges", "automatic_ranges")

    def get_list_display(self, request: HttpRequest) -> Any:
        """The columns, with figures read from the cache once per page (not once per cell)."""
        figures: dict[str, limits.RangeFigures] | None = None

        def figure(found: NumberRange) -> limits.RangeFigures | None:
            nonlocal figures
            if figures is None:
                ranges = list(self.get_queryset(request).values_list("range", flat=True)[:500])
                try:
                    figures = {entry.range: entry for entry in limits.range_figures(ranges)}
                except SharedCacheDown:
                    figures = {}
            return figures.get(found.range)

        @admin.display(description=_("state"))
        def state(found: NumberRange) -> str:
            if found.decision:
                return str(NumberRange.Decision(found.decision).label)
            entry = figure(found)
            return str(_STATE_LABELS.get(entry.state, entry.state)) if entry is not None else "-"

        @admin.display(description=_("codes sent"))
        def sends(found: NumberRange) -> str:
            entry = figure(found)
            return f"{entry.sends} (+{entry.recent})" if entry is not None else "-"

        @admin.display(description=_("codes entered"))
        def verified(found: NumberRange) -> str:
            entry = figure(found)
            if entry is None or entry.conversion is None:
                return "-"
            return f"{entry.verified} ({100 * entry.conversion:.0f} %; site {100 * entry.baseline:.0f} %)"

        return ("range", state, sends, verified, "decision", "last_tripped_at")

    def save_model(self, request: HttpRequest, obj: NumberRange, form: Any, change: bool) -> None:
        if "decision" in form.changed_data or not change:
            obj.decided_at = timezone.now()
        super().save_model(request, obj, form, change)
        self._mirror(request, [obj.range], obj.decision)

    def delete_model(self, request: HttpRequest, obj: NumberRange) -> None:
        super().delete_model(request, obj)
        self._mirror(request, [obj.range], "")

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        ranges = list(queryset.values_list("range", flat=True))
        super().delete_queryset(request, queryset)
        self._mirror(request, ranges, "")

    def _decide(self, request: HttpRequest, queryset: Any, decision: str) -> None:
        ranges = list(queryset.values_list("range", flat=True))
        queryset.update(decision=decision, decided_at=timezone.now())
        if self._mirror(request, ranges, decision):
            self.message_user(
                request,
                ngettext("%(count)d number range was updated.", "%(count)d number ranges were updated.",
                         len(ranges)) % {"count": len(ranges)},
                messages.SUCCESS,
            )

    def _mirror(self, request: HttpRequest, ranges: list[str], decision: str) -> bool:
        """Copy the decision into the limits cache, which every send reads."""
        try:
            for found in ranges:
                limits.decide_range(found, decision)
        except SharedCacheDown:
            self.message_user(
                request,
                _("The decision was saved, but the sending limits cache could not be reached, so sends do not "
                  "follow it yet. Try again."),
                messages.ERROR,
            )
            return False
        return True

    @admin.action(description=_("Release the selected number ranges (the fraud guard never refuses them)"),
                  permissions=["change"])
    def release_ranges(self, request: HttpRequest, queryset: Any) -> None:
        self._decide(request, queryset, NumberRange.Decision.RELEASED)

    @admin.action(description=_("Block the selected number ranges (no codes but to confirmed owners)"),
                  permissions=["change"])
    def block_ranges(self, request: HttpRequest, queryset: Any) -> None:
        self._decide(request, queryset, NumberRange.Decision.BLOCKED)

    @admin.action(description=_("Let the fraud guard decide for the selected number ranges"), permissions=["change"])
    def automatic_ranges(self, request: HttpRequest, queryset: Any) -> None:
        self._decide(request, queryset, NumberRange.Decision.AUTOMATIC)


_STATE_LABELS = {"watching": _("watching"), "throttled": _("throttled"), "blocked": _("blocked")}
