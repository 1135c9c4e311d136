"""The notice form (`mail.Form`) writes what `mail.compose` + `mail.envelope` write: same headers,
same bodies, same structure, for any subject, name and text."""

import email
import email.policy
from email.header import decode_header, make_header
from email.utils import parseaddr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crisis import mail

FORM = mail.Form(headers=("X-Crisis-Notice", "Content-Language"))
text_st = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=400)
line_st = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"), max_size=120)
# People's names as the directory holds them: letters in any script, marks, digits, punctuation, spaces.
name_st = st.text(st.characters(whitelist_categories=("L", "M", "N", "P", "Zs")), min_size=1, max_size=80).filter(
    lambda name: name.strip() and "=?" not in name
)


def _parsed(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def _to(data: bytes) -> tuple[str, str]:
    """The (name, address) a mail reader shows for the To header: encoded words decoded as RFC 2047 says,
    the white space between two of them ignored (Python's address parser keeps it)."""
    raw = email.message_from_bytes(data, policy=email.policy.compat32)["To"]
    raw = raw.replace("\r\n ", " ").replace("\r\n\t", "\t")
    if "=?" not in raw:
        return parseaddr(raw)
    phrase, _sep, address = raw.rpartition(" <")
    return str(make_header(decode_header(phrase))), address.rstrip(">")


def _same(app, *, name, address, subject, text, html) -> None:
    headers = {"X-Crisis-Notice": "17", "Content-Language": "id"}
    with app.app_context():
        composed = mail.envelope(
            mail.compose(
                to=[(name, address)],
                subject=subject,
                text=text,
                html=html,
                message_id="<crisis.notice.17@example.org>",
                headers=headers,
            )
        )
        filled = FORM.fill(
            to=(name, address),
            subject=subject,
            text=text,
            html=html,
            message_id="<crisis.notice.17@example.org>",
            headers=headers,
        )
    assert (filled.sender, filled.recipients) == (composed.sender, composed.recipients)
    head = filled.data.split(b"\r\n\r\n", 1)[0]
    assert filled.data.isascii() and all(len(line) <= 78 for line in filled.data.split(b"\r\n"))
    assert b"\r\n" not in filled.data.replace(b"\r\n", b"") and b"\n" not in filled.data.replace(b"\r\n", b"")
    ours, theirs = _parsed(filled.data), _parsed(composed.data)
    assert ours.defects == [] and [k.lower() for k in ours] == [k.lower() for k in theirs]
    assert _to(filled.data) == (" ".join(name.split()), address)
    for key in theirs:
        if key.lower() == "to":
            continue
        if key.lower() == "content-type":
            assert ours.get_content_type() == theirs.get_content_type()
        else:
            assert str(ours[key]) == str(theirs[key]), (key, head)
    if name.isascii():
        assert ours["To"].addresses == theirs["To"].addresses
    assert ours.get_body(("plain",)).get_content() == theirs.get_body(("plain",)).get_content()
    assert ours.get_body(("html",)).get_content() == theirs.get_body(("html",)).get_content()
    assert ours.get_body(("html",)).get_content_charset() == "utf-8"


def test_a_notice_reads_back_as_composed(app):
    _same(
        app,
        name="Dra. Sri Rahayu, M.Si. (Kepala)",
        address="sri@semarang.go.id",
        subject="[SEV 2] HX-KOTA-SEMARANG-2026-0012 · Hoaks banjir “rob” di Tambaklorok… — terlambat " * 2,
        text="Tahap Verifikasi melewati batas waktu.\n\nBuka: https://crisis.example/i/12\n" * 30,
        html="<p>Tahap <b>Verifikasi</b> melewati batas waktu — 07 Des 10.15 WIB</p>\n" * 40,
    )


def test_header_injection_is_flattened(app):
    _same(
        app,
        name="Sri\r\nBcc: eve@example.org",
        address="a@example.org",
        subject="Judul\r\nBcc: eve@example.org",
        text="body",
        html="<p>body</p>",
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=name_st, subject=line_st, text=text_st, html=text_st)
def test_any_text_reads_back_as_composed(app, name, subject, text, html):
    _same(app, name=name, address="someone@example.org", subject=subject, text=text, html=html)


def test_a_message_that_does_not_fit_the_form_is_refused(app):
    with app.app_context(), pytest.raises(ValueError):
        FORM.fill(to=("a", "a@example.org"), subject="s", text="t", message_id="<m@x>", headers={})
