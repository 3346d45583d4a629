"""The task state machine, in the spec's own words.

Statuses are the spec's strings verbatim (003 §4.1.20/21/22, 29 values incl. DELETED).
``TRANSITIONS`` is the one table of legal moves; ``transition`` applies it and raises
``InvalidStatus`` (DRS.M00304) for anything else. Transitions the spec leaves implicit are
documented in docs/decisions.md.
"""

from __future__ import annotations

from enum import StrEnum

from opendrs.errors import InvalidStatus


class JobStatus(StrEnum):
    CREATING = "CREATING"
    CREATE_FAILED = "CREATE_FAILED"
    CONFIGURATION = "CONFIGURATION"
    STARTJOBING = "STARTJOBING"
    WAITING_FOR_START = "WAITING_FOR_START"
    START_JOB_FAILED = "START_JOB_FAILED"
    PAUSING = "PAUSING"
    FULL_TRANSFER_STARTED = "FULL_TRANSFER_STARTED"
    FULL_TRANSFER_FAILED = "FULL_TRANSFER_FAILED"
    FULL_TRANSFER_COMPLETE = "FULL_TRANSFER_COMPLETE"
    INCRE_TRANSFER_STARTED = "INCRE_TRANSFER_STARTED"
    INCRE_TRANSFER_FAILED = "INCRE_TRANSFER_FAILED"
    RELEASE_RESOURCE_STARTED = "RELEASE_RESOURCE_STARTED"
    RELEASE_RESOURCE_FAILED = "RELEASE_RESOURCE_FAILED"
    RELEASE_RESOURCE_COMPLETE = "RELEASE_RESOURCE_COMPLETE"
    REBUILD_NODE_STARTED = "REBUILD_NODE_STARTED"
    REBUILD_NODE_FAILED = "REBUILD_NODE_FAILED"
    CHANGE_JOB_STARTED = "CHANGE_JOB_STARTED"
    CHANGE_JOB_FAILED = "CHANGE_JOB_FAILED"
    CHILD_TRANSFER_STARTING = "CHILD_TRANSFER_STARTING"
    CHILD_TRANSFER_STARTED = "CHILD_TRANSFER_STARTED"
    CHILD_TRANSFER_COMPLETE = "CHILD_TRANSFER_COMPLETE"
    CHILD_TRANSFER_FAILED = "CHILD_TRANSFER_FAILED"
    RELEASE_CHILD_TRANSFER_STARTED = "RELEASE_CHILD_TRANSFER_STARTED"
    RELEASE_CHILD_TRANSFER_COMPLETE = "RELEASE_CHILD_TRANSFER_COMPLETE"
    NODE_UPGRADE_START = "NODE_UPGRADE_START"
    NODE_UPGRADE_COMPLETE = "NODE_UPGRADE_COMPLETE"
    NODE_UPGRADE_FAILED = "NODE_UPGRADE_FAILED"
    DELETED = "DELETED"


class Action(StrEnum):
    """Everything that can move a task: API calls and internal engine events."""

    PROVISIONED = "provisioned"  # internal: worker resources allocated
    PROVISION_FAILED = "provision_failed"
    START = "start"  # 4.1.11 without start_time
    SCHEDULE = "schedule"  # 4.1.11 with a future start_time
    START_DUE = "start_due"  # internal: scheduled time reached
    FULL_STARTED = "full_started"  # internal
    INCR_STARTED = "incr_started"  # internal (INCR_TRANS, or after full load)
    FULL_DONE = "full_done"  # internal
    FAIL = "fail"  # internal: the running phase failed
    PAUSE = "pause"  # 4.1.13
    RESUME = "resume"  # 4.1.12 (from PAUSING or *_FAILED)
    TERMINATE = "terminate"  # 4.1.14 terminate / force_terminate
    RELEASED = "released"  # internal
    RELEASE_FAILED = "release_failed"  # internal
    DELETE = "delete"  # 4.1.14 delete


S = JobStatus
A = Action

# Statuses in which the engine does work for the task.
RUNNING: frozenset[JobStatus] = frozenset({S.STARTJOBING, S.FULL_TRANSFER_STARTED, S.INCRE_TRANSFER_STARTED})
FAILED: frozenset[JobStatus] = frozenset(
    {S.START_JOB_FAILED, S.FULL_TRANSFER_FAILED, S.INCRE_TRANSFER_FAILED}
)
# Statuses that count as "started" (4.1.15 batch-modify-pwd precondition, verbatim from the spec).
PASSWORD_CHANGE_ALLOWED: frozenset[JobStatus] = frozenset(
    {
        S.STARTJOBING,
        S.START_JOB_FAILED,
        S.FULL_TRANSFER_STARTED,
        S.FULL_TRANSFER_FAILED,
        S.FULL_TRANSFER_COMPLETE,
        S.INCRE_TRANSFER_STARTED,
        S.INCRE_TRANSFER_FAILED,
        S.PAUSING,
    }
)
DELETABLE: frozenset[JobStatus] = frozenset(
    {S.CREATE_FAILED, S.RELEASE_RESOURCE_COMPLETE, S.RELEASE_CHILD_TRANSFER_COMPLETE}
)
TERMINABLE: frozenset[JobStatus] = frozenset(
    {
        S.CREATING,
        S.CONFIGURATION,
        S.WAITING_FOR_START,
        S.STARTJOBING,
        S.START_JOB_FAILED,
        S.PAUSING,
        S.FULL_TRANSFER_STARTED,
        S.FULL_TRANSFER_FAILED,
        S.FULL_TRANSFER_COMPLETE,
        S.INCRE_TRANSFER_STARTED,
        S.INCRE_TRANSFER_FAILED,
        S.RELEASE_RESOURCE_FAILED,
        S.CHANGE_JOB_FAILED,
        S.REBUILD_NODE_FAILED,
    }
)
# Name/description/alarm/tags can be edited in any status that is not stopped or deleted.
EDITABLE_METADATA: frozenset[JobStatus] = frozenset(JobStatus) - {
    S.RELEASE_RESOURCE_STARTED,
    S.RELEASE_RESOURCE_COMPLETE,
    S.DELETED,
}

_RESUME_TARGET: dict[JobStatus, JobStatus] = {
    S.START_JOB_FAILED: S.STARTJOBING,
    S.FULL_TRANSFER_FAILED: S.FULL_TRANSFER_STARTED,
    S.INCRE_TRANSFER_FAILED: S.INCRE_TRANSFER_STARTED,
}


def _table() -> dict[tuple[JobStatus, Action], JobStatus | None]:
    """(from, action) -> to. ``None`` means "back to the status the task was paused in"."""
    t: dict[tuple[JobStatus, Action], JobStatus | None] = {
        (S.CREATING, A.PROVISIONED): S.CONFIGURATION,
        (S.CREATING, A.PROVISION_FAILED): S.CREATE_FAILED,
        (S.CONFIGURATION, A.START): S.STARTJOBING,
        (S.CONFIGURATION, A.SCHEDULE): S.WAITING_FOR_START,
        (S.WAITING_FOR_START, A.START_DUE): S.STARTJOBING,
        (S.STARTJOBING, A.FULL_STARTED): S.FULL_TRANSFER_STARTED,
        (S.STARTJOBING, A.INCR_STARTED): S.INCRE_TRANSFER_STARTED,
        (S.STARTJOBING, A.FAIL): S.START_JOB_FAILED,
        (S.FULL_TRANSFER_STARTED, A.FULL_DONE): S.FULL_TRANSFER_COMPLETE,
        (S.FULL_TRANSFER_STARTED, A.FAIL): S.FULL_TRANSFER_FAILED,
        (S.FULL_TRANSFER_COMPLETE, A.INCR_STARTED): S.INCRE_TRANSFER_STARTED,
        (S.INCRE_TRANSFER_STARTED, A.FAIL): S.INCRE_TRANSFER_FAILED,
        (S.FULL_TRANSFER_STARTED, A.PAUSE): S.PAUSING,
        (S.INCRE_TRANSFER_STARTED, A.PAUSE): S.PAUSING,
        (S.PAUSING, A.RESUME): None,
        (S.RELEASE_RESOURCE_STARTED, A.RELEASED): S.RELEASE_RESOURCE_COMPLETE,
        (S.RELEASE_RESOURCE_STARTED, A.RELEASE_FAILED): S.RELEASE_RESOURCE_FAILED,
    }
    for failed, target in _RESUME_TARGET.items():
        t[(failed, A.RESUME)] = target
    for status in TERMINABLE:
        t[(status, A.TERMINATE)] = S.RELEASE_RESOURCE_STARTED
    for status in DELETABLE:
        t[(status, A.DELETE)] = S.DELETED
    return t


TRANSITIONS: dict[tuple[JobStatus, Action], JobStatus | None] = _table()


def next_status(
    current: JobStatus, action: Action, paused_from: JobStatus | None = None
) -> JobStatus:
    """The status ``action`` leads to from ``current``; raises InvalidStatus when illegal."""
    key = (current, action)
    if key not in TRANSITIONS:
        raise InvalidStatus(detail=f"{action.value} is not allowed in status {current.value}")
    target = TRANSITIONS[key]
    if target is None:
        # Resume from pause: back to the phase the task was paused in.
        return paused_from if paused_from in (S.FULL_TRANSFER_STARTED, S.INCRE_TRANSFER_STARTED) else (
            S.INCRE_TRANSFER_STARTED
        )
    return target


def allowed(current: JobStatus, action: Action) -> bool:
    return (current, action) in TRANSITIONS


# job_action names (003 §4.1.20, 2d of the digest) offered per status.
_ALWAYS = ["CREATE", "PRE_CHECK", "CHANGE_MODE", "MODIFY_DB_CONFIG"]
_ACTIONS_BY_STATUS: dict[JobStatus, list[str]] = {
    S.CONFIGURATION: _ALWAYS
    + ["START", "CHANGE", "CHOOSE_OBJECT", "FREE_RESOURCE", "MODIFY_CONFIGURATION", "API_CONFIGURATION_ACTION"],
    S.INCRE_TRANSFER_STARTED: _ALWAYS
    + ["CHOOSE_OBJECT", "FREE_RESOURCE", "RESET_DB_PWD", "MODIFY_CONFIGURATION", "PAUSE"],
    S.FULL_TRANSFER_STARTED: _ALWAYS + ["FREE_RESOURCE", "RESET_DB_PWD", "MODIFY_CONFIGURATION", "PAUSE"],
    S.PAUSING: _ALWAYS + ["FREE_RESOURCE", "RESET_DB_PWD", "MODIFY_CONFIGURATION", "RETRY"],
    S.RELEASE_RESOURCE_COMPLETE: ["CREATE", "DELETE", "CLONE"],
    S.CREATE_FAILED: ["CREATE", "DELETE"],
}
ALL_ACTION_NAMES: list[str] = sorted(
    {
        "CREATE", "CHOOSE_OBJECT", "PRE_CHECK", "CHANGE_MODE", "FREE_RESOURCE", "MODIFY_DB_CONFIG",
        "RESET_DB_PWD", "MODIFY_CONFIGURATION", "PAUSE", "START", "CHANGE", "RETRY", "RESET", "DELETE",
        "QUERY_PRE_CHECK", "CLONE", "API_CONFIGURATION_ACTION",
    }
)


def available_actions(status: JobStatus) -> list[str]:
    if status in _ACTIONS_BY_STATUS:
        return list(_ACTIONS_BY_STATUS[status])
    if status in FAILED:
        return _ALWAYS + ["FREE_RESOURCE", "RESET_DB_PWD", "MODIFY_CONFIGURATION", "RETRY", "RESET"]
    if status in TERMINABLE:
        return ["FREE_RESOURCE"]
    return []
