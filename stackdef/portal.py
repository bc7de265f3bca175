"""The demo portal's files (``sandbox/portal``): where they are, the content types they must be
served with and the sandbox's Content-Security-Policy for them. The sandbox's gateway serves them;
``python -m tools portal`` uploads them to a trial stack's bucket, whose CloudFront distribution
adds the policy of template.yaml (``PortalResponseHeaders``: this one, plus the API and the sign-in)."""

from __future__ import annotations

from stackdef.template import ROOT

__all__ = ["PORTAL_CONTENT_TYPES", "PORTAL_CSP", "PORTAL_DIR"]

PORTAL_DIR = ROOT / "sandbox" / "portal"
# The demo portal: its own scripts, styles and API calls only; values from the API are inserted as
# text, and this policy is the second line of defence should one ever be parsed as markup.
PORTAL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Content types the portal's files must carry: browsers refuse module scripts served as anything
# but JavaScript under nosniff, and the platform's mimetypes table varies (.js is not always text/javascript).
PORTAL_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}
