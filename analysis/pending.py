"""The durable "this plan's data changed" record (broker mode; issue 17).

Redis holds the debounce state and the queued tasks, and Redis can go away: killed,
restarted without its data, hung. So every committed change is also written to the
database (analysis.models.PendingReanalysis, one row per plan) before Redis is asked
to schedule anything, and only a run that read the data removes it:

- `pending_reanalysis_record(plan_ids=..., reasons=...)`: the on_commit flush of a
  transaction (analysis.triggers.dispatch) adds one commit to each plan's record.
- `pending_reanalysis_snapshot(plan_id=...)`: the task reads the record just before
  its run reads the data;
- `pending_reanalysis_consume(snapshot=...)`: after the run, the record goes if no
  commit came since the snapshot; otherwise only what the run consumed is subtracted
  (the commits that came during the run keep the record, and make the next run).
- `pending_plan_ids(older_than=...)`: what the stale-run sweep and a worker's
  (re)connection enqueue (analysis.tasks.enqueue_pending).

Written after the commit (on_commit), not inside the transaction: a row written in
the transaction would be locked until the commit and serialise every transaction
touching the same plan. The window between a commit and its flush is the process
dying at that instant; the nightly run covers it.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from analysis.models import PendingReanalysis


def _add(reasons: dict, labels) -> dict:
    counts = Counter({str(key): int(value) for key, value in (reasons or {}).items()})
    counts.update(labels)
    return dict(sorted(counts.items()))


def pending_reanalysis_record(*, plan_ids, reasons: list[str]) -> None:
    """One more commit changed what these plans read: each label in `reasons` counts
    once for each plan (as the Redis debounce counts them)."""
    now = timezone.now()
    for plan_id in plan_ids:
        with transaction.atomic():
            row = PendingReanalysis.objects.select_for_update().filter(plan_id=plan_id).first()
            if row is None:
                try:
                    with transaction.atomic():
                        PendingReanalysis.objects.create(
                            plan_id=plan_id,
                            reasons=_add({}, reasons),
                            changes=1,
                            first_changed_at=now,
                            last_changed_at=now,
                        )
                    continue
                except IntegrityError:  # another process created it first: add to it
                    row = PendingReanalysis.objects.select_for_update().get(plan_id=plan_id)
            row.reasons = _add(row.reasons, reasons)
            row.changes += 1
            row.last_changed_at = max(now, row.last_changed_at)
            row.save(update_fields=["reasons", "changes", "last_changed_at"])


def pending_reanalysis_snapshot(*, plan_id: int) -> PendingReanalysis | None:
    """The plan's record as it is now (read it before the run reads the data)."""
    return PendingReanalysis.objects.filter(plan_id=plan_id).first()


@transaction.atomic
def pending_reanalysis_consume(*, snapshot: PendingReanalysis) -> bool:
    """A run read the data after `snapshot` was taken: remove what it consumed. True
    when the record is gone; False when commits came since (they stay recorded)."""
    row = PendingReanalysis.objects.select_for_update().filter(pk=snapshot.pk).first()
    if row is None:
        return True
    if row.changes <= snapshot.changes:
        row.delete()
        return True
    left = Counter(row.reasons) - Counter(snapshot.reasons)
    row.reasons = dict(sorted(left.items()))
    row.save(update_fields=["reasons"])
    return False


def pending_reanalysis_discard(*, plan_id: int) -> None:
    """The plan is inactive (or gone): nothing will run it on a data change."""
    PendingReanalysis.objects.filter(plan_id=plan_id).delete()


def pending_plan_ids(*, older_than: timedelta = timedelta(0)) -> list[int]:
    """Active plans with a record whose last change is at least `older_than` old."""
    return list(
        PendingReanalysis.objects.filter(
            plan__is_active=True, last_changed_at__lte=timezone.now() - older_than
        )
        .order_by("first_changed_at")
        .values_list("plan_id", flat=True)
    )
