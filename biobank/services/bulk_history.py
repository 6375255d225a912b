"""Writing many rows of a history-tracked model in two statements, whatever their number.

simple-history's bulk_update_with_history sends Django's bulk_update (one CASE/WHEN per
field and row, in chunks on SQLite) and then builds one historical instance per row in
Python: 63 % and 20 % of a 384-well plate confirm. Here the same writes are two
statements: the update, then the history copied by the database from the rows just
written, so the history holds exactly what the table holds.

    PostgreSQL  UPDATE t SET ... FROM unnest(%s::bigint[], ...) AS v(...) WHERE t.id = v.id
                INSERT INTO t_history (...) SELECT ... FROM t WHERE id = ANY(%s)
    SQLite      the same two statements through executemany (one call each, no round
                trip: the database is in this process)
    other       bulk_update_with_history

The history rows are those simple-history writes for an update: history_type '~', the
user, the change reason and one history_date for the whole write.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

# The columns simple-history adds to a historical table besides the tracked fields.
HISTORY_COLUMNS = {"history_id", "history_date", "history_change_reason", "history_type"}
HISTORY_COLUMNS |= {"history_user_id"}


def bulk_update_with_history_sql(
    *,
    objs: Sequence[models.Model],
    model: type[models.Model],
    fields: Sequence[str],
    user=None,
    change_reason: str = "",
    date=None,
) -> int:
    """Write `fields` of `objs` (instances of `model` holding the new values) and one
    history row each; two statements on PostgreSQL and SQLite. Returns the number of
    rows updated.

    The caller holds the rows' locks (taken in pk order before it read them), so the
    update takes no lock in an order of its own and the history copies the values
    given. A historical model with columns of its own (history_relation, custom
    attributes) goes through simple-history, which knows how to fill them."""
    if not objs:
        return 0
    connection = transaction.get_connection()  # not the proxy: ~5 µs an attribute
    history = model.history.model
    tracked = [field.column for field in history.tracked_fields]
    own = {field.column for field in history._meta.concrete_fields} - set(tracked)
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        own = set()  # history switched off: simple-history's path writes none
    written = [model._meta.get_field(name) for name in fields]
    simple = all(field.get_internal_type() in UNNESTABLE for field in written)
    if connection.vendor not in ("postgresql", "sqlite") or own != HISTORY_COLUMNS or not simple:
        return bulk_update_with_history(
            list(objs),
            model,
            list(fields),
            batch_size=500,
            default_user=user,
            default_change_reason=change_reason,
            default_date=date,
        )
    pk = model._meta.pk
    when = history._meta.get_field("history_date").get_db_prep_save(
        date or timezone.now(), connection
    )
    stamp = (when, (change_reason or "")[:100], getattr(user, "pk", user))
    table, history_table = model._meta.db_table, history._meta.db_table
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in tracked)
    copied = ", ".join(f"t.{quote(column)}" for column in tracked)
    history_insert = (
        f"INSERT INTO {quote(history_table)} ({columns}, history_date, "
        "history_change_reason, history_type, history_user_id) "
        f"SELECT {copied}, %s, %s, '~', %s FROM {quote(table)} t "
    )
    rows = [
        [
            obj.pk,
            *(prepared(field, getattr(obj, field.attname), connection) for field in written),
        ]
        for obj in sorted(objs, key=lambda obj: obj.pk)
    ]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names = [quote(pk.column), *(quote(field.column) for field in written)]
            types = [pk.rel_db_type(connection), *(f.db_type(connection) for f in written)]
            arrays = ", ".join(f"%s::{kind}[]" for kind in types)
            assigned = ", ".join(f"{name} = v.{name}" for name in names[1:])
            cursor.execute(
                f"UPDATE {quote(table)} AS t SET {assigned} FROM unnest({arrays}) "
                f"AS v({', '.join(names)}) WHERE t.{names[0]} = v.{names[0]}",
                [list(column) for column in zip(*rows, strict=True)],
            )
            updated = cursor.rowcount
            cursor.execute(
                history_insert + f"WHERE t.{names[0]} = ANY(%s) ORDER BY t.{names[0]}",
                [*stamp, [row[0] for row in rows]],
            )
        else:
            assigned = ", ".join(f"{quote(field.column)} = %s" for field in written)
            cursor.executemany(
                f"UPDATE {quote(table)} SET {assigned} WHERE {quote(pk.column)} = %s",
                [[*row[1:], row[0]] for row in rows],
            )
            updated = cursor.rowcount
            cursor.executemany(
                history_insert + f"WHERE t.{quote(pk.column)} = %s",
                [[*stamp, row[0]] for row in rows],
            )
    return updated


def bulk_insert(*, objs: Sequence[models.Model], model: type[models.Model]) -> None:
    """Insert new rows (no history, no pks wanted back) in one statement: on PostgreSQL
    `INSERT ... SELECT FROM unnest(...)` (bulk_create spends more building its VALUES
    than the database inserting them), on SQLite one executemany (bulk_create would
    split the rows into chunks of 999 variables: a query more every ~90 rows)."""
    if not objs:
        return
    connection = transaction.get_connection()
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    simple = all(field.get_internal_type() in UNNESTABLE for field in fields)
    if connection.vendor not in ("postgresql", "sqlite") or not simple:
        model.objects.bulk_create(list(objs), batch_size=1000)
        return
    quote = connection.ops.quote_name
    rows = [
        [prepared(field, field.pre_save(obj, True), connection) for field in fields] for obj in objs
    ]
    into = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
            cursor.execute(
                into + f"SELECT * FROM unnest({arrays})",
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            cursor.executemany(into + f"VALUES ({', '.join(['%s'] * len(fields))})", rows)


# Field types whose prepared values are plain scalars an array of them carries as is
# (not JSON, arrays or ranges, which psycopg wraps).
UNNESTABLE = {"AutoField", "BigAutoField", "ForeignKey", "OneToOneField", "CharField"}
UNNESTABLE |= {"TextField"}
UNNESTABLE |= {"FloatField", "IntegerField", "BigIntegerField", "PositiveIntegerField"}
UNNESTABLE |= {"PositiveSmallIntegerField", "SmallIntegerField", "BooleanField"}
UNNESTABLE |= {"DateTimeField", "DateField", "DecimalField"}


def prepared(field: models.Field, value, connection):
    """The value as the database takes it; None needs no preparing (most of a plate's
    decisions are empty, and preparing costs a few µs a value)."""
    return None if value is None else field.get_db_prep_save(value, connection)
