"""Viewset behaviour shared by the field records: offline-safe creates and guarded edits.

- Creates need an ``Idempotency-Key`` (scoped to the user). The first answer is stored and replayed
  byte for byte to every repeat; the same key with another body answers 422; a repeat that arrives
  while the first is still running answers 409 (IETF draft-ietf-httpapi-idempotency-key-header).
- Every mutable resource sends its version as a strong ``ETag``; PATCH/PUT need ``If-Match``
  (428 without it, 412 when stale, and nothing is written).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.exceptions import Conflict, PreconditionRequired, UnprocessableEntity
from api.models import IdempotencyRecord

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:\-]{8,255}$")
ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,10})"\s*$')


def etag_for(version: int) -> str:
    return f'"{version}"'


def request_fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


class IdempotentCreateMixin:
    """``create`` runs once per (user, Idempotency-Key); repeats get the stored answer."""

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            return Response(
                {"detail": str(_("Falta el encabezado Idempotency-Key.")), "code": "idempotency_key_missing", "fields": {}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if not IDEMPOTENCY_KEY.match(key):
            return Response(
                {
                    "detail": str(_("Idempotency-Key debe tener de 8 a 255 letras, números o . _ : -")),
                    "code": "idempotency_key_invalid",
                    "fields": {},
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        fingerprint = request_fingerprint(request)
        try:
            # Committed at once, outside the create's transaction, so a parallel repeat sees it.
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(user=request.user, key=key, fingerprint=fingerprint)
        except IntegrityError:
            existing = IdempotencyRecord.objects.get(user=request.user, key=key)
            if existing.fingerprint != fingerprint:
                raise UnprocessableEntity(_("Esta Idempotency-Key ya se usó con otro contenido.")) from None
            if existing.state == IdempotencyRecord.State.IN_PROGRESS:
                raise Conflict(_("La petición original con esta Idempotency-Key aún se está procesando.")) from None
            replay = Response(existing.response_body, status=existing.response_status)
            replay["Idempotent-Replayed"] = "true"
            return replay
        try:
            response = super().create(request, *args, **kwargs)  # type: ignore[misc]
        except Exception as error:
            answer = self.handle_exception(error)  # type: ignore[attr-defined]
            self._remember(record, answer)
            return answer
        self._remember(record, response)
        return response

    @staticmethod
    def _remember(record: IdempotencyRecord, response: Response) -> None:
        if response.status_code >= 500:
            record.delete()  # a server fault is not an answer; let the phone try again with the same key
            return
        record.state = IdempotencyRecord.State.COMPLETED
        record.response_status = response.status_code
        record.response_body = json.loads(json.dumps(response.data, default=str))
        record.save(update_fields=["state", "response_status", "response_body"])


class VersionedUpdateMixin:
    """Adds the ETag to single-record answers and demands a matching If-Match to edit."""

    def expected_version(self, request: Request) -> int:
        header = request.headers.get("If-Match")
        if not header:
            raise PreconditionRequired()
        match = ETAG.match(header)
        if match is None:
            raise PreconditionRequired(_('If-Match debe ser la ETag recibida, por ejemplo «"3"».'))
        return int(match.group(1))

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        data = getattr(response, "data", None)
        if isinstance(data, dict) and isinstance(data.get("version"), int) and 200 <= response.status_code < 300:
            response["ETag"] = etag_for(data["version"])
        return response
