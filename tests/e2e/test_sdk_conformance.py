"""Every field we emit is a field the SDK's response model knows, with a type it can hold.

A misspelt key would be dropped silently by the SDK's deserializer; this test makes it loud.
"""

from __future__ import annotations

import re
from typing import Any

import huaweicloudsdkdrs.v3 as v3
import huaweicloudsdkdrs.v5 as v5
import pytest
from e2e_helpers import create_task, mysql_task, unique_name

from opendrs.client import DrsHttpClient

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object, "datetime": str,
              "date": str}


def conforms(module: Any, type_name: str, value: Any, path: str = "$") -> list[str]:
    """Problems found checking ``value`` against the SDK type ``type_name``."""
    if value is None:
        return []
    if m := re.fullmatch(r"list\[(.+)\]", type_name):
        if not isinstance(value, list):
            return [f"{path}: expected list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in conforms(module, m.group(1), item, f"{path}[{i}]")]
    if m := re.fullmatch(r"dict\(str, (.+)\)", type_name):
        if not isinstance(value, dict):
            return [f"{path}: expected map"]
        return [p for k, item in value.items() for p in conforms(module, m.group(1), item, f"{path}.{k}")]
    if type_name in PRIMITIVES:
        expected = PRIMITIVES[type_name]
        if type_name == "int" and isinstance(value, bool):
            return [f"{path}: bool where int expected"]
        return [] if isinstance(value, expected) else [f"{path}: {value!r} is not {type_name}"]
    cls = getattr(module, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected {type_name} object"]
    by_wire = {wire: attr for attr, wire in cls.attribute_map.items()}
    problems = []
    for key, item in value.items():
        if key not in by_wire:
            problems.append(f"{path}.{key}: not a field of {type_name}")
            continue
        problems += conforms(module, cls.openapi_types[by_wire[key]], item, f"{path}.{key}")
    return problems


@pytest.fixture(scope="module")
def task_id(api_server: Any) -> str:
    with api_server.client() as c:
        return create_task(c)


V3_CALLS = [
    ("BatchCreateJobsResponse", "POST", "/v3/{project_id}/jobs/batch-creation", lambda j: {"jobs": [mysql_task()]}),
    ("ShowJobListResponse", "POST", "/v3/{project_id}/jobs",
     lambda j: {"cur_page": 1, "per_page": 5, "db_use_type": "sync"}),
    ("BatchListJobDetailsResponse", "POST", "/v3/{project_id}/jobs/batch-detail", lambda j: {"jobs": [j, "nope"]}),
    ("BatchListJobStatusResponse", "POST", "/v3/{project_id}/jobs/batch-status", lambda j: {"jobs": [j, "nope"]}),
    ("BatchListProgressesResponse", "POST", "/v3/{project_id}/jobs/batch-progress", lambda j: {"jobs": [j, "x"]}),
    ("BatchUpdateJobResponse", "PUT", "/v3/{project_id}/jobs/batch-modification",
     lambda j: {"jobs": [{"job_id": j, "description": "conformance"}, {"job_id": "nope"}]}),
    ("BatchResetPasswordResponse", "PUT", "/v3/{project_id}/jobs/batch-modify-pwd",
     lambda j: {"jobs": [{"job_id": j, "end_point_type": "so", "db_password": "x"}]}),
    ("BatchSetObjectsResponse", "PUT", "/v3/{project_id}/jobs/batch-select-objects",
     lambda j: {"jobs": [{"job_id": j, "selected": True, "job": [
         {"id": "db1", "object_type": "database", "object_name": "db1", "select": "true"}]}]}),
    ("BatchSetSpeedResponse", "PUT", "/v3/{project_id}/jobs/batch-limit-speed",
     lambda j: {"speed_limits": [{"job_id": j, "speed_limit": [{"begin": "01:00", "end": "02:59", "speed": "10"}]}]}),
    ("BatchSetPolicyResponse", "POST", "/v3/{project_id}/jobs/batch-sync-policy",
     lambda j: {"jobs": [{"job_id": j, "conflict_policy": "overwrite", "filter_ddl_policy": "drop_database"}]}),
    ("BatchStartJobsResponse", "POST", "/v3/{project_id}/jobs/batch-starting", lambda j: {"jobs": [{"job_id": j}]}),
    ("BatchCheckJobsResponse", "POST", "/v3/{project_id}/jobs/batch-precheck",
     lambda j: {"jobs": [{"job_id": j, "precheck_mode": "forStartJob"}]}),
    ("BatchStopJobsResponse", "POST", "/v3/{project_id}/jobs/batch-pause-task", lambda j: {"jobs": [{"job_id": j}]}),
    ("ShowQuotasResponse", "GET", "/v3/{project_id}/quotas", lambda j: None),
]


@pytest.mark.parametrize(("model", "method", "path", "body"), V3_CALLS, ids=[c[0] for c in V3_CALLS])
def test_v3_answers_conform(http: DrsHttpClient, task_id: str, model: str, method: str, path: str,
                            body: Any) -> None:
    resp = http.request(method, path, body(task_id))
    assert resp.status_code in (200, 201, 202), resp.text
    problems = conforms(v3, model, resp.json())
    assert not problems, problems


def test_v5_answers_conform(http: DrsHttpClient, task_id: str) -> None:
    listed = http.request("GET", "/v5/{project_id}/jobs", params={"job_type": "sync", "limit": 5})
    assert listed.status_code == 200
    assert not conforms(v5, "ListJobsResponse", listed.json())
    detail = http.request("GET", f"/v5/{{project_id}}/jobs/{task_id}", params={"type": "detail"})
    assert detail.status_code == 200, detail.text
    assert not conforms(v5, "ShowJobDetailResponse", detail.json())


def test_conformance_checker_catches_a_typo() -> None:
    assert conforms(v3, "BatchListJobStatusResponse", {"count": 1, "results": [{"idd": "x"}]})
    assert conforms(v3, "ShowJobListResponse", {"total_record": "1"})
    assert not conforms(v3, "ShowJobListResponse", {"total_record": 1, "jobs": [{"name": unique_name()}]})
