"""Domain errors. One handler turns them into a flash message or application/problem+json."""

from __future__ import annotations

from typing import Any

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


def _page_sentences() -> dict[int, tuple[Any, Any]]:
    from crisis.i18n import lazy_gettext as _l

    return {
        400: (
            _l("The request could not be read"),
            _l("The page sent something it cannot use. Go back, reload the page and try again."),
        ),
        401: (_l("Please sign in"), _l("Sign in to see this page.")),
        403: (
            _l("Not allowed"),
            _l("Your role does not allow this. Ask a supervisor or an administrator of the unit if you need it."),
        ),
        404: (
            _l("Not found"),
            _l("There is nothing at this address. It may have been removed, or the link is incomplete."),
        ),
        405: (
            _l("Not possible here"),
            _l("This address does not take that kind of request. Use the buttons on the page instead."),
        ),
        409: (
            _l("Changed in the meantime"),
            _l("Someone else changed this while you were working. Reload the page to see it as it is now."),
        ),
        413: (_l("Too large to send"), _l("What you sent is too large.")),
        422: (
            _l("Cannot be accepted"),
            _l("Some of what you entered cannot be accepted. Go back and check the fields."),
        ),
        429: (_l("Too many attempts"), _l("Too many attempts; try again in a few minutes.")),
        500: (
            _l("Something went wrong"),
            _l(
                "The application made an error and nothing was changed. Try again; if it happens again, "
                "tell your administrator the time it happened."
            ),
        ),
        503: (
            _l("Not available right now"),
            _l("The service is busy or being maintained. Try again in a few minutes."),
        ),
    }


def page_title(status: int) -> str:
    """The heading of an error page in the viewer's language: what happened, not a status code."""
    sentences = _page_sentences()
    return str(sentences.get(status, sentences[500 if status >= 500 else 400])[0])


def page_message(status: int) -> str:
    """The sentence under it: what it means and what to do."""
    sentences = _page_sentences()
    return str(sentences.get(status, sentences[500 if status >= 500 else 400])[1])
