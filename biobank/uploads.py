"""The upload size cap, applied before a byte of the body is read.

A qPCR export is a few hundred kilobytes; a 50 MB file of 1.3 M rows once took a
worker to 1.4 GB. Django reads a multipart body as soon as anything touches
request.POST or request.FILES, and the CSRF check does so before any view runs, so a
view or form check comes after the whole file has been received and spooled to disk.
This middleware looks at Content-Length alone (Django never reads more than it
states) and answers 413 at once when the body is larger than the cap
(settings.EXOTRACK_MAX_UPLOAD_BYTES, from EXOTRACK_MAX_UPLOAD_MB) plus a little room
for the form fields around the file. The upload form and the API serializer then check
the file's own size against the same cap (biobank.uploads.check_upload_size).

The API gets JSON; a web page is sent back to where the form was, with the message.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect, JsonResponse
from django.utils.http import url_has_allowed_host_and_scheme

# Room for the other form fields and the multipart boundaries around the file.
FORM_ROOM_BYTES = 64 * 1024
MB = 1024 * 1024


def max_upload_bytes() -> int:
    return int(settings.EXOTRACK_MAX_UPLOAD_BYTES)


def too_large_message(size: int) -> str:
    return (
        f"The upload is {size / MB:.1f} MB; a file may be at most "
        f"{max_upload_bytes() / MB:g} MB (EXOTRACK_MAX_UPLOAD_MB). An instrument export is "
        "far smaller: is this the right file?"
    )


def check_upload_size(size: int) -> str | None:
    """The message refusing a file of `size` bytes, or None when it may be read."""
    return too_large_message(size) if size > max_upload_bytes() else None


def _content_length(request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0  # Django reads no body it cannot size


class UploadSizeLimitMiddleware:
    """413 for a request body over the cap, before anything reads it. Placed after the
    session and message middleware (the web answer carries a message) and before any
    view: the CSRF check reads the body in process_view, after every __call__."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        size = _content_length(request)
        if size > max_upload_bytes() + FORM_ROOM_BYTES:
            return self.refuse(request, size)
        return self.get_response(request)

    def refuse(self, request, size: int):
        message = too_large_message(size)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=413)
        messages.error(request, message)
        back = request.META.get("HTTP_REFERER", "")
        if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
            back = request.path
        # 303: the browser comes back with a GET, to the page the form was on. The
        # unread body is the server's to discard (gunicorn closes the connection).
        return HttpResponseRedirect(back, status=303)
