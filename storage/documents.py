"""Documents the portal issued (PDF returns and receipts): an opaque code per document,
so the public verification page finds it without a name or PINFL in the URL."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.types import UtcDateTime


class IssuedDocument(Base):
    __tablename__ = "issued_documents"
    __table_args__ = (UniqueConstraint("pinfl", "kind", "ref", name="uq_issued_documents_ref"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    pinfl: Mapped[str] = mapped_column(String(14))
    kind: Mapped[str] = mapped_column(String(16))  # return | receipt
    ref: Mapped[str] = mapped_column(String(64))  # "YEAR:VERSION" or the receipt id
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


@dataclasses.dataclass(frozen=True)
class Issued:
    code: str
    pinfl: str
    kind: str
    ref: str
    issued_at: dt.datetime


def _issued(row: IssuedDocument) -> Issued:
    return Issued(row.code, row.pinfl, row.kind, row.ref, row.issued_at)


class DocumentRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def issue(self, code: str, pinfl: str, kind: str, ref: str, now: dt.datetime) -> Issued:
        """The document's record: the first issue's code and date, made once."""
        with self._sessions() as session:
            found = session.scalars(
                select(IssuedDocument).filter_by(pinfl=pinfl, kind=kind, ref=ref)
            ).first()
            if found is not None:
                return _issued(found)
            row = IssuedDocument(code=code, pinfl=pinfl, kind=kind, ref=ref, issued_at=now)
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # issued at the same moment by another request
                session.rollback()
                row = session.scalars(
                    select(IssuedDocument).filter_by(pinfl=pinfl, kind=kind, ref=ref)
                ).one()
            return _issued(row)

    def get(self, code: str) -> Issued | None:
        with self._sessions() as session:
            row = session.get(IssuedDocument, code)
            return _issued(row) if row is not None else None
