"""The state machine walked exhaustively: every (status, action) pair, legal or not."""

from __future__ import annotations

import itertools

import pytest

from opendrs.errors import InvalidStatus
from opendrs.jobs.states import (
    DELETABLE,
    TRANSITIONS,
    Action,
    JobStatus,
    allowed,
    available_actions,
    next_status,
)

SPEC_STATUSES = {
    "CREATING", "CREATE_FAILED", "CONFIGURATION", "STARTJOBING", "WAITING_FOR_START", "START_JOB_FAILED",
    "PAUSING", "FULL_TRANSFER_STARTED", "FULL_TRANSFER_FAILED", "FULL_TRANSFER_COMPLETE",
    "INCRE_TRANSFER_STARTED", "INCRE_TRANSFER_FAILED", "RELEASE_RESOURCE_STARTED", "RELEASE_RESOURCE_FAILED",
    "RELEASE_RESOURCE_COMPLETE", "REBUILD_NODE_STARTED", "REBUILD_NODE_FAILED", "CHANGE_JOB_STARTED",
    "CHANGE_JOB_FAILED", "DELETED", "CHILD_TRANSFER_STARTING", "CHILD_TRANSFER_STARTED",
    "CHILD_TRANSFER_COMPLETE", "CHILD_TRANSFER_FAILED", "RELEASE_CHILD_TRANSFER_STARTED",
    "RELEASE_CHILD_TRANSFER_COMPLETE", "NODE_UPGRADE_START", "NODE_UPGRADE_COMPLETE", "NODE_UPGRADE_FAILED",
}

# The expected table, written out independently of states.py so a slip in either shows.
S, A = JobStatus, Action
EXPECTED = {
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
    (S.START_JOB_FAILED, A.RESUME): S.STARTJOBING,
    (S.FULL_TRANSFER_FAILED, A.RESUME): S.FULL_TRANSFER_STARTED,
    (S.INCRE_TRANSFER_FAILED, A.RESUME): S.INCRE_TRANSFER_STARTED,
    (S.RELEASE_RESOURCE_STARTED, A.RELEASED): S.RELEASE_RESOURCE_COMPLETE,
    (S.RELEASE_RESOURCE_STARTED, A.RELEASE_FAILED): S.RELEASE_RESOURCE_FAILED,
    (S.CREATE_FAILED, A.DELETE): S.DELETED,
    (S.RELEASE_RESOURCE_COMPLETE, A.DELETE): S.DELETED,
    (S.RELEASE_CHILD_TRANSFER_COMPLETE, A.DELETE): S.DELETED,
}
TERMINABLE = {
    S.CREATING, S.CONFIGURATION, S.WAITING_FOR_START, S.STARTJOBING, S.START_JOB_FAILED, S.PAUSING,
    S.FULL_TRANSFER_STARTED, S.FULL_TRANSFER_FAILED, S.FULL_TRANSFER_COMPLETE, S.INCRE_TRANSFER_STARTED,
    S.INCRE_TRANSFER_FAILED, S.RELEASE_RESOURCE_FAILED, S.CHANGE_JOB_FAILED, S.REBUILD_NODE_FAILED,
}
for _s in TERMINABLE:
    EXPECTED[(_s, A.TERMINATE)] = S.RELEASE_RESOURCE_STARTED


def test_statuses_are_the_specs_verbatim() -> None:
    assert {s.value for s in JobStatus} == SPEC_STATUSES


@pytest.mark.parametrize(("status", "action"), list(itertools.product(JobStatus, Action)))
def test_every_pair(status: JobStatus, action: Action) -> None:
    key = (status, action)
    if key == (S.PAUSING, A.RESUME):
        assert next_status(status, action, S.FULL_TRANSFER_STARTED) is S.FULL_TRANSFER_STARTED
        assert next_status(status, action, S.INCRE_TRANSFER_STARTED) is S.INCRE_TRANSFER_STARTED
        return
    if key in EXPECTED:
        assert allowed(status, action)
        assert next_status(status, action) is EXPECTED[key]
    else:
        assert not allowed(status, action)
        with pytest.raises(InvalidStatus) as exc:
            next_status(status, action)
        assert exc.value.error_code == "DRS.M00304"
        assert exc.value.http_status == 400


def test_table_has_nothing_unexpected() -> None:
    assert set(TRANSITIONS) - {(S.PAUSING, A.RESUME)} == set(EXPECTED)


def test_deleted_is_final() -> None:
    assert not any(s is S.DELETED for s, _ in TRANSITIONS)
    assert S.CONFIGURATION not in DELETABLE


def test_actions_offered_match_status() -> None:
    assert "START" in available_actions(S.CONFIGURATION)
    assert "PAUSE" in available_actions(S.INCRE_TRANSFER_STARTED)
    assert "RETRY" in available_actions(S.INCRE_TRANSFER_FAILED)
    assert "DELETE" in available_actions(S.RELEASE_RESOURCE_COMPLETE)
    assert available_actions(S.DELETED) == []
