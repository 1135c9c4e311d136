"""The unit's letterhead (kop surat): logo, institution and address, set by the unit's admin and
printed at the top of the review PDF and the monthly evaluation report.

The logo is stored in the database (a small PNG or JPEG, checked by its bytes and by decoding it),
so every web and worker process renders the same letterhead without a shared folder."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from crisis import clock
from crisis.auth.models import User
from crisis.dbtypes import UTCDateTime
from crisis.errors import NotPermitted, ValidationFailed
from crisis.extensions import db
from crisis.i18n import lazy_gettext as _l
from crisis.timeline import service as timeline
from crisis.units import service as units

MAX_LOGO_BYTES = 256 * 1024
MAX_INSTITUTION = 300
MAX_ADDRESS = 1000
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}


class UnitLetterhead(db.Model):
    __tablename__ = "unit_letterhead"

    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True)
    institution: Mapped[str] = mapped_column(String(MAX_INSTITUTION), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str] = mapped_column(String(16), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    @property
    def logo_data_uri(self) -> str | None:
        """The logo inline, for a PDF rendered without a web server to fetch it from."""
        if not self.logo:
            return None
        return f"data:{self.logo_type};base64,{base64.b64encode(self.logo).decode('ascii')}"

    @property
    def is_empty(self) -> bool:
        return not (self.institution or self.address or self.logo)


def get(*, session: Session, unit_id: int) -> UnitLetterhead | None:
    """The unit's letterhead, or None when its admin has set none."""
    letterhead = session.get(UnitLetterhead, unit_id)
    return None if letterhead is None or letterhead.is_empty else letterhead


def logo_type(data: bytes) -> Any:
    """The image type of `data` (image/png or image/jpeg), or the reason it is refused."""
    if len(data) > MAX_LOGO_BYTES:
        return None, _l("The logo is too large: at most %(n)d KB.", n=MAX_LOGO_BYTES // 1024)
    kind = next((kind for magic, kind in LOGO_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        return None, _l("The logo must be a PNG or JPEG image.")
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            if image.format != PILLOW_FORMATS[kind]:
                raise ValueError(image.format)
    except Exception:  # noqa: BLE001  # any decoding failure: not an image we print
        return None, _l("The logo file is damaged or not a PNG or JPEG image.")
    return kind, None


def save(
    *,
    session: Session,
    actor: User,
    unit_id: int,
    institution: str,
    address: str,
    logo: bytes | None = None,
    remove_logo: bool = False,
    now: datetime | None = None,
) -> UnitLetterhead:
    """Set the unit's letterhead; only an admin of the unit. `logo` None keeps the current one."""
    now = now or clock.now()
    unit = units.get(session=session, user=actor, unit_id=unit_id)
    if unit.id not in units.admin_scope(session=session, user=actor):
        raise NotPermitted(_l("You do not administer this unit."))
    errors: dict[str, list[str]] = {}
    institution, address = (institution or "").strip(), (address or "").strip()
    if len(institution) > MAX_INSTITUTION:
        errors["institution"] = [str(_l("At most %(n)d characters.", n=MAX_INSTITUTION))]
    if len(address) > MAX_ADDRESS:
        errors["address"] = [str(_l("At most %(n)d characters.", n=MAX_ADDRESS))]
    kind = ""
    if logo:
        kind, problem = logo_type(logo)
        if problem is not None:
            errors["logo"] = [str(problem)]
    if errors:
        raise ValidationFailed(errors)
    letterhead = session.get(UnitLetterhead, unit.id) or UnitLetterhead(unit_id=unit.id, institution="", address="")
    session.add(letterhead)
    before = {
        "letterhead_institution": letterhead.institution,
        "letterhead_address": letterhead.address,
        "letterhead_logo": bool(letterhead.logo),
    }
    letterhead.institution, letterhead.address, letterhead.updated_at = institution, address, now
    if logo:
        letterhead.logo, letterhead.logo_type = logo, kind
    elif remove_logo:
        letterhead.logo, letterhead.logo_type = None, ""
    session.flush()
    after = {
        "letterhead_institution": institution,
        "letterhead_address": address,
        "letterhead_logo": bool(letterhead.logo),
    }
    timeline.record(
        session=session,
        kind="unit.updated",
        subject_type="unit",
        subject_id=unit.id,
        actor_id=actor.id,
        unit_id=unit.id,
        now=now,
        data={"before": before, "after": after},
    )
    return letterhead
