"""The two writes of every SMS login step, as SQL written once per database.

Building and compiling an ORM query costs more per call (about 0.2 ms each
here) than everything else we add to the vendor's round trip, so the claim
of a challenge and the delivery rows are written with SQL composed once per
database alias: names quoted by the database backend, values prepared by the
model's own fields, so they run on every database Django supports. The
statements do exactly what the ORM calls they replace did; the test suite
runs them on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["claim_challenge", "insert_rows"]

_CLAIMED = ("last_generated_timestamp", "token", "vendor_gateway", "valid_until")


def claim_challenge(
    model: type[models.Model],
    pk: Any,
    *,
    now: datetime,
    cooldown: int | None,
    token: str,
    valid_until: datetime,
    instance: models.Model | None = None,
) -> bool:
    """Take the device's challenge slot: store the new code's hash and expiry
    and stamp ``last_generated_timestamp``, in one conditional UPDATE.

    With a ``cooldown`` (seconds) the row is only claimed when no code was made
    in that time, so of two requests racing for it exactly one wins. Returns
    whether this call claimed it. ``instance`` (the device) is the routing
    hint, as for ``save()``.
    """
    alias = router.db_for_write(model, instance=instance)
    connection = connections[alias]
    sql = _claim_sql(model, alias, cooldown is not None)
    fields = [_field(model, name) for name in _CLAIMED]
    values = (now, token, "", valid_until)
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)]
    params.append(_field(model, "pk").get_db_prep_value(pk, connection))
    if cooldown is not None:
        params.append(fields[0].get_db_prep_value(now - timedelta(seconds=cooldown), connection))
    # As QuerySet.update() and save() do: an error marks an enclosing atomic() for rollback.
    with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def insert_rows(
    model: type[models.Model], rows: Iterable[Mapping[str, Any]], *, hint: models.Model | None = None
) -> int:
    """INSERT ``rows`` (each a value for every concrete field but the
    auto-incremented key, by attribute name) in one statement, so they are
    written together or not at all without a transaction around them.
    Returns the number of rows written. No ``save()`` signals are sent.
    ``hint`` is the routing hint (a related instance, as for ``save()``)."""
    rows = list(rows)
    if not rows:
        return 0
    alias = router.db_for_write(model, instance=hint)
    connection = connections[alias]
    fields = _insert_fields(model)
    sql = _insert_sql(model, alias, len(rows))
    params = [_prepared(field, row[field.attname], connection) for row in rows for field in fields]
    with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return len(rows)


def _prepared(field: models.Field[Any, Any], value: Any, connection: BaseDatabaseWrapper) -> Any:
    """``value`` as the database takes it. Text, whole numbers and NULL go as
    they are (what the ORM's preparation returns for them); everything else,
    datetimes first of all, is prepared by the field."""
    if value is None or type(value) in (str, int):
        return value
    return field.get_db_prep_save(value, connection)


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{model.__name__}.{name} is not a concrete field")
    return field


def _quoted(connection: BaseDatabaseWrapper, model: type[models.Model], *names: str) -> list[str]:
    return [connection.ops.quote_name(str(_field(model, name).column)) for name in names]


@cache
def _claim_sql(model: type[models.Model], alias: str, with_cooldown: bool) -> str:
    connection = connections[alias]
    table = connection.ops.quote_name(model._meta.db_table)
    assignments = ", ".join(f"{column} = %s" for column in _quoted(connection, model, *_CLAIMED))
    (pk,) = _quoted(connection, model, "pk")
    sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608 (names quoted by the backend)
    if with_cooldown:
        (last,) = _quoted(connection, model, "last_generated_timestamp")
        sql += f" AND ({last} IS NULL OR {last} <= %s)"
    return sql


@cache
def _insert_fields(model: type[models.Model]) -> tuple[models.Field[Any, Any], ...]:
    return tuple(
        field for field in model._meta.concrete_fields if not (field.primary_key and field.db_returning)
    )


@cache
def _insert_sql(model: type[models.Model], alias: str, count: int) -> str:
    connection = connections[alias]
    fields = _insert_fields(model)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    placeholders: Any = [["%s"] * len(fields)] * count
    values = connection.ops.bulk_insert_sql(fields, placeholders)
    return f"INSERT INTO {table} ({columns}) {values}"  # noqa: S608 (names quoted by the backend)
