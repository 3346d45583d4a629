"""One root for every error OpenDRS reports, with the spec's codes as data.

Every layer raises a ``DrsError`` subclass; the API renders it once as
``{"error_code", "error_msg"}`` (or per item inside a batch result). The user-facing
message comes from the spec's template (Appendix A.3); ``detail`` is for the log only.
"""

from __future__ import annotations

from typing import ClassVar


class DrsError(Exception):
    """Root of all OpenDRS errors. Subclasses pin the spec's code, HTTP status and template."""

    http_status: ClassVar[int] = 422
    error_code: ClassVar[str] = "DRS.M00004"
    message: ClassVar[str] = "Service is abnormal. Check logs."

    def __init__(self, *params: object, detail: str | None = None, hint: str | None = None) -> None:
        self.params = params
        self.detail = detail
        self.hint = hint
        super().__init__(self.error_msg)

    @property
    def error_msg(self) -> str:
        """The spec's template filled in, plus a short hint on what to do when we have one."""
        text = self.message
        if "%s" in text:
            values = tuple(str(p) for p in self.params) or ("",)
            count = text.count("%s")
            values = (values + ("",) * count)[:count]
            text = text % values
        return f"{text} {self.hint}" if self.hint else text

    def to_body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "error_msg": self.error_msg}


class Transient:
    """Mixin: the failed operation is safe to retry (network blips, lock timeouts)."""


# --- request validation (400) -------------------------------------------------------------


class InvalidRequestParameter(DrsError):
    http_status = 400
    error_code = "DRS.M00007"
    message = "Invalid request parameter."


class ParameterError(DrsError):
    http_status = 400
    error_code = "DRS.M00200"
    message = "Parameter error."


class EmptyParameter(DrsError):
    http_status = 400
    error_code = "DRS.M00201"
    message = "The parameter %s is empty."


class InvalidParameter(DrsError):
    http_status = 400
    error_code = "DRS.M00202"
    message = "The value of parameter %s is invalid."


class InvalidPage(DrsError):
    http_status = 400
    error_code = "DRS.M00210"
    message = "The value of Page is invalid, %s"


class PageOverLimit(DrsError):
    http_status = 400
    error_code = "DRS.M00211"
    message = "The value of Page exceeds the upper limit."


class DuplicateTagKey(DrsError):
    http_status = 400
    error_code = "DRS.M00269"
    message = "The tag key must be unique."


class TagTooLong(DrsError):
    http_status = 400
    error_code = "DRS.M00270"
    message = "The tag key or value is too long."


class TooManyTags(DrsError):
    http_status = 400
    error_code = "DRS.M00271"
    message = "The number of tags exceeds the limit."


class IllegalContent(DrsError):
    http_status = 400
    error_code = "DRS.M00273"
    message = "Invalid parameter. The parameter contains %s."


class MissingQueryResult(DrsError):
    http_status = 400
    error_code = "DRS.M00289"
    message = "Missing query result: %s"


class JobNotFound(DrsError):
    http_status = 400
    error_code = "DRS.M00298"
    message = "Job does not exist, please check job id."


class OnlyOneJob(DrsError):
    http_status = 400
    error_code = "DRS.M00299"
    message = "Only one jobId is allowed."


class InvalidRequest(DrsError):
    http_status = 400
    error_code = "DRS.M00300"
    message = "Invalid request, %s"


class DuplicateInRequest(DrsError):
    http_status = 400
    error_code = "DRS.M00301"
    message = "There are duplicate %s in request."


class UnsupportedScheme(DrsError):
    http_status = 400
    error_code = "DRS.M00302"
    # A.3's text plus the list of what is supported, so the caller knows what to send.
    message = "The transfer schema is invalid, please refer to supported transfer schema: %s"


class NotInCache(DrsError):
    http_status = 400
    error_code = "DRS.M00303"
    message = "The corresponding parameter is not obtained from the cache."


class InvalidStatus(DrsError):
    """Raised by the state machine when an action is illegal in the task's status."""

    http_status = 400
    error_code = "DRS.M00304"
    message = "This API cannot be called in the current task status."


class ParameterErrorDetail(DrsError):
    http_status = 400
    error_code = "DRS.M00305"
    message = "Parameter error:%s"


class SameStartEnd(DrsError):
    http_status = 400
    error_code = "DRS.M00306"
    message = "Start time cannot be the same as end time."


class FlowControlUnsupported(DrsError):
    http_status = 400
    error_code = "DRS.M00403"
    message = "This task does not support flow control."


class DataProcessingRuleExists(DrsError):
    http_status = 400
    error_code = "DRS.M07000"
    message = "Data processing rule already exists."


class NotAvailableYet(DrsError):
    """An API whose real work belongs to an engine that does not support it (yet).

    Never answered with a fake success: the caller learns exactly what is missing.
    """

    http_status = 400
    error_code = "DRS.M00300"
    message = "Invalid request, %s"


# --- identity (401/403) -----------------------------------------------------------------------


class InvalidToken(DrsError):
    http_status = 401
    error_code = "DRS.M00100"
    message = "Invalid token."


class InsufficientPermissions(DrsError):
    http_status = 403
    error_code = "DRS.M00102"
    message = "You do not have sufficient permissions."


class NoOperationPermission(DrsError):
    http_status = 401
    error_code = "DRS.M00103"
    message = "You do not have operation permissions. Check account permissions on IAM."


class InvalidProject(DrsError):
    http_status = 403
    error_code = "DRS.M00261"
    message = "Invalid project ID."


# --- task state (4xx / per item) --------------------------------------------------------------


class NameExists(DrsError):
    http_status = 422
    error_code = "DRS.M00277"
    message = "The task name already exists."


class TaskBusy(DrsError, Transient):
    http_status = 202
    error_code = "DRS.M01504"
    message = (
        "Another operation is being performed on the migration task or the migration task is abnormal."
    )


class ConcurrentUpdate(TaskBusy):
    """The task row changed between read and write (optimistic lock): safe to redo the whole step."""


class TaskInfoNotFound(DrsError):
    http_status = 400
    error_code = "DRS.M05003"
    message = "Task information not found."


class TaskDeleted(DrsError):
    http_status = 400
    error_code = "DRS.M05004"
    message = "The task has been deleted or the resource has been released."


class TaskNotFoundV5(DrsError):
    http_status = 400
    error_code = "DRS.10000010"
    message = "Task not found. Check the task ID."


class ServiceAbnormal(DrsError):
    http_status = 422
    error_code = "DRS.M00004"
    message = "Service is abnormal. Check logs."


# --- HTTP-level errors the framework raises -----------------------------------------------


class NotFoundRoute(DrsError):
    http_status = 404
    error_code = "DRS.M00300"
    message = "Invalid request, %s"


class MethodNotAllowed(DrsError):
    http_status = 405
    error_code = "DRS.M00300"
    message = "Invalid request, %s"


class UnsupportedMediaType(DrsError):
    http_status = 415
    error_code = "DRS.M00300"
    message = "Invalid request, %s"


class BodyTooLarge(DrsError):
    http_status = 413
    error_code = "DRS.M00300"
    message = "Invalid request, %s"


class CompareBusy(DrsError):
    """4.1.33's documented answer when an object comparison is already under way."""

    http_status = 400
    error_code = "DRS.10000024"
    message = "Another operation is being performed on the migration task or the migration task is abnormal."

