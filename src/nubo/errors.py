"""Errors the service layer raises; only the API layer turns them into HTTP.

Each error carries an HTTP status, a title and a message a user can act on.
"""

from __future__ import annotations


class NuboError(Exception):
    """Base of every error a user may see."""

    status = 500
    title = "Internal Server Error"
    # Neutron-style error type; defaults to the class name.
    kind: str | None = None

    def __init__(self, message: str | None = None, *, kind: str | None = None) -> None:
        self.message = message or self.default_message()
        if kind:
            self.kind = kind
        super().__init__(self.message)

    def default_message(self) -> str:
        return self.title

    @property
    def type_name(self) -> str:
        return self.kind or type(self).__name__


class BadRequest(NuboError):
    status = 400
    title = "Bad Request"


class ValidationError(BadRequest):
    pass


class Unauthorized(NuboError):
    status = 401
    title = "Unauthorized"

    def default_message(self) -> str:
        return "The request you have made requires authentication."


class Forbidden(NuboError):
    status = 403
    title = "Forbidden"

    def default_message(self) -> str:
        return "You are not authorized to perform the requested action."


class NotFound(NuboError):
    status = 404
    title = "Not Found"

    def default_message(self) -> str:
        return "The resource could not be found."


class MethodNotAllowed(NuboError):
    status = 405
    title = "Method Not Allowed"


class NotAcceptable(NuboError):
    status = 406
    title = "Not Acceptable"


class Conflict(NuboError):
    status = 409
    title = "Conflict"


class InvalidState(Conflict):
    pass


class Gone(NuboError):
    status = 410
    title = "Gone"


class PreconditionFailed(NuboError):
    status = 412
    title = "Precondition Failed"


class PayloadTooLarge(NuboError):
    status = 413
    title = "Request Entity Too Large"


class QuotaExceeded(NuboError):
    status = 413
    title = "Quota Exceeded"


class RangeNotSatisfiable(NuboError):
    status = 416
    title = "Requested Range Not Satisfiable"


class UnsupportedMediaType(NuboError):
    status = 415
    title = "Unsupported Media Type"


class NotImplementedYet(NuboError):
    status = 501
    title = "Not Implemented"

    def default_message(self) -> str:
        return "The action you have requested has not been implemented."


class ServiceUnavailable(NuboError):
    status = 503
    title = "Service Unavailable"
