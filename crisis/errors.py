"""Domain errors. One handler turns them into a flash message or application/problem+json."""

from __future__ import annotations

BODY = "_schema"  # the field name of what is wrong with a body as a whole (webargs' name for it)


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def errors(self) -> dict[str, list[str]]:
        return {self.field: [self.message]} if self.field else {}


class ValidationFailed(DomainError):
    """Input that cannot be accepted; names every field at fault."""

    status = 422
    title = "Unprocessable input"

    def __init__(self, errors: dict[str, list[str] | str]) -> None:
        normalised = {k: v if isinstance(v, list) else [v] for k, v in errors.items()}
        first_field, first = next(iter(normalised.items()))
        super().__init__(f"{first_field}: {first[0]}", field=first_field)
        self._errors = normalised

    @property
    def errors(self) -> dict[str, list[str]]:
        return self._errors


class UnreadableInput(ValidationFailed):
    """A body no schema can read: not JSON, nested too deep, a number too long to convert. 400,
    naming the field where there is one (a whole-body problem is the detail alone)."""

    status = 400
    title = "Bad Request"

    def __init__(self, errors: dict[str, list[str] | str]) -> None:
        super().__init__(errors)
        if self.field == BODY:
            self.message = self._errors[BODY][0]


class NotFound(DomainError):
    status = 404
    title = "Not found"


class NotPermitted(DomainError):
    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
