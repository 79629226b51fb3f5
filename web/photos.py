"""Photos from a technician's phone: cleaned before they are stored, and shown only to who may see them.

Every photo is re-encoded here whatever the phone did: turned upright, shrunk to at most
``PHOTO_MAX_SIDE_PX`` on its longest side, saved as a JPEG with no metadata at all (EXIF, GPS, XMP,
ICC), so a home's position never leaves in a picture's header. The clean bytes are then kept by
``installations.services.field_photos_store`` as ``FieldPhoto`` rows, in the record's transaction.

The files live in private storage (MEDIA_ROOT, never served from MEDIA_URL); ``photo_view`` sends one
to a signed-in member of staff who may see the record it belongs to, and answers 404 to anyone else.
"""

from __future__ import annotations

from io import BytesIO

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET
from PIL import Image, ImageOps, UnidentifiedImageError

from installations.selectors import field_photo_queryset

PHOTO_MAX_SIDE_PX = 1600
PHOTO_JPEG_QUALITY = 82
# What a phone camera sends before the browser shrinks it (a 50 MP sensor's JPEG is ~25 MB).
PHOTO_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
# A decoded picture larger than this is refused before it is decoded (decompression bombs).
PHOTO_MAX_PIXELS = 60_000_000
PHOTOS_PER_RECORD = 6


def photo_reencode(upload: UploadedFile) -> bytes:
    """The upload as a clean JPEG: upright, at most PHOTO_MAX_SIDE_PX a side, without any metadata.

    Raises a ValidationError (Spanish, naming the photo) for anything that is not a readable picture.
    """
    name = upload.name or ""
    if upload.size is not None and upload.size > PHOTO_MAX_UPLOAD_BYTES:
        raise ValidationError(
            _("La foto «%(name)s» pesa más de %(mb)s MB."), params={"name": name, "mb": PHOTO_MAX_UPLOAD_BYTES // 2**20}
        )
    try:
        upload.seek(0)
        with Image.open(upload) as opened:
            if opened.width * opened.height > PHOTO_MAX_PIXELS:
                raise ValidationError(_("La foto «%(name)s» es demasiado grande."), params={"name": name})
            # Turn it upright first: the orientation lives in the EXIF that is dropped below.
            picture = ImageOps.exif_transpose(opened)
            picture.thumbnail((PHOTO_MAX_SIDE_PX, PHOTO_MAX_SIDE_PX), Image.Resampling.LANCZOS)
            # A new image from the pixels alone: nothing from the original's info travels with it.
            clean = Image.new("RGB", picture.size, "white")
            if picture.mode in {"RGBA", "LA"} or (picture.mode == "P" and "transparency" in picture.info):
                rgba = picture.convert("RGBA")
                clean.paste(rgba, mask=rgba.getchannel("A"))
            else:
                clean.paste(picture.convert("RGB"))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as error:
        raise ValidationError(
            _("El archivo «%(name)s» no es una foto que se pueda leer (JPEG, PNG o WebP)."), params={"name": name}
        ) from error
    output = BytesIO()
    clean.save(output, format="JPEG", quality=PHOTO_JPEG_QUALITY, optimize=True)
    return output.getvalue()


@require_GET
@login_required
def photo_view(request: HttpRequest, pk: int) -> FileResponse:
    """One field photo, for a member of staff who may see its record (technician, coordinator, administrator)."""
    photo = get_object_or_404(field_photo_queryset(user=request.user), pk=pk)  # type: ignore[arg-type]
    try:
        opened = photo.image.open("rb")
    except FileNotFoundError:  # the row outlived its file (storage restored from an older copy)
        raise Http404 from None
    response = FileResponse(opened, content_type="image/jpeg")
    # Personal data: browsers may keep it for the session, shared caches and proxies may not.
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = f'inline; filename="foto-{photo.pk}.jpg"'
    return response
