"""A trial stack's two AWS-only parts, played locally for the browser tests of the deployed portal:

- :class:`HostedSignIn`: Cognito's hosted UI for one app client, as the portal uses it
  (``/oauth2/authorize`` with ``response_type=code`` and an S256 ``code_challenge``, a sign-in form,
  the redirect back with ``code`` and ``state``, ``/oauth2/token`` trading a code and its
  ``code_verifier`` once, ``/logout``). Its ID tokens are the sandbox issuer's, with the claims a
  Cognito ID token carries, so that the sandbox's gateway accepts them as API Gateway would Cognito's.
- :class:`PortalSite`: CloudFront in front of the portal bucket: each path answered with the S3
  object that ``python -m tools portal`` uploaded (its content type), with the response headers of
  template.yaml's ``PortalResponseHeaders``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import boto3
from werkzeug.wrappers import Request, Response

from sandbox.issuer import LocalIssuer
from stackdef.template import evaluate_conditions, load_template, parameter_values, resolve

__all__ = ["HostedSignIn", "PortalSite", "TrialUser", "portal_response_headers"]


@dataclass(frozen=True)
class TrialUser:
    email: str
    password: str
    sub: str  # Cognito's is a UUID; the sandbox's demo data links accounts to "alice", "bob", ...


@dataclass
class _Grant:
    user: TrialUser
    redirect_uri: str
    challenge: str


@dataclass
class HostedSignIn:
    """A WSGI app: the hosted UI of one user pool domain and app client."""

    issuer: LocalIssuer
    client_id: str
    callback_urls: tuple[str, ...]
    users: tuple[TrialUser, ...]
    portal_origin: str
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/oauth2/authorize" and request.method == "GET":
            response = self._authorize(request)
        elif request.path == "/login" and request.method == "POST":
            response = self._login(request)
        elif request.path == "/oauth2/token" and request.method in ("POST", "OPTIONS"):
            response = self._token(request)
        elif request.path == "/logout" and request.method == "GET":
            response = self._logout(request)
        else:
            response = Response("Not Found", status=404)
        return response(environ, start_response)

    # ---- the pages ----------------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        args = request.args
        problems = [
            name
            for name, ok in (
                ("response_type", args.get("response_type") == "code"),
                ("client_id", args.get("client_id") == self.client_id),
                ("redirect_uri", args.get("redirect_uri") in self.callback_urls),
                ("scope", "openid" in (args.get("scope") or "").split()),
                ("code_challenge_method", args.get("code_challenge_method") == "S256"),
                ("code_challenge", len(args.get("code_challenge") or "") == 43),
                ("state", bool(args.get("state"))),
            )
            if not ok
        ]
        if problems:
            return Response(f"invalid_request: {', '.join(problems)}", status=400)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(args[name])}">'
            for name in ("redirect_uri", "state", "code_challenge")
        )
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signin</title></head>
<body><main><h1>Sign in with your email and password</h1>
<form method="post" action="/login">{hidden}
<label for="username">Email</label> <input id="username" name="username" type="email">
<label for="password">Password</label> <input id="password" name="password" type="password">
<button type="submit">Sign in</button></form></main></body></html>"""
        response = Response(page, content_type="text/html; charset=utf-8")
        # The form posts here, and its answer redirects to the portal: both are form targets.
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; form-action 'self' {self.portal_origin}; frame-ancestors 'none'"
        )
        return response

    def _login(self, request: Request) -> Response:
        form = request.form
        user = next(
            (u for u in self.users if (u.email, u.password) == (form.get("username"), form.get("password"))), None
        )
        if user is None:
            return Response("Incorrect username or password.", status=400)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(user, form["redirect_uri"], form["code_challenge"])
        location = f"{form['redirect_uri']}?{urlencode({'code': code, 'state': form['state']})}"
        return Response(status=302, headers={"Location": location})

    def _token(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._cors(Response(status=204))
        form = request.form.to_dict()
        self.token_requests.append(form)
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # a code is good once
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (
            form.get("grant_type") != "authorization_code"
            or form.get("client_id") != self.client_id
            or grant is None
            or form.get("redirect_uri") != grant.redirect_uri
            or challenge != grant.challenge
        ):
            return self._cors(_json(400, {"error": "invalid_grant"}))
        user = grant.user
        id_token = self.issuer.issue(user.sub, user.email, email_verified=True)
        answer = {"id_token": id_token, "access_token": id_token, "expires_in": 3600, "token_type": "Bearer"}
        return self._cors(_json(200, answer))

    def _logout(self, request: Request) -> Response:
        if request.args.get("client_id") != self.client_id or request.args.get("logout_uri") not in self.callback_urls:
            return Response("invalid_request", status=400)
        return Response(status=302, headers={"Location": request.args["logout_uri"]})

    def _cors(self, response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = self.portal_origin
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "content-type"
        return response


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def portal_response_headers(api_origin: str, sign_in_origin: str) -> dict[str, str]:
    """template.yaml's PortalResponseHeaders as CloudFront adds them, for a trial stack, with the
    API's and the hosted sign-in's local addresses in place of their AWS names."""
    template = load_template()
    refs = {
        **parameter_values({"CreateDemoUserPool": "true"}, template),
        "AWS::Region": "us-east-1",
        "AWS::URLSuffix": "amazonaws.com",
        "DemoUserPoolDomain": "trial",
    }
    config = resolve(
        template["Resources"]["PortalResponseHeaders"]["Properties"]["ResponseHeadersPolicyConfig"],
        refs,
        evaluate_conditions(refs, template),
    )["SecurityHeadersConfig"]
    policy = str(config["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    for aws_name, local in (
        ("https://*.execute-api.us-east-1.amazonaws.com", api_origin),
        ("https://trial.auth.us-east-1.amazoncognito.com", sign_in_origin),
    ):
        assert aws_name in policy, (aws_name, policy)
        policy = policy.replace(aws_name, local)
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": config["FrameOptions"]["FrameOption"],
        "Referrer-Policy": config["ReferrerPolicy"]["ReferrerPolicy"],
    }


@dataclass
class PortalSite:
    """A WSGI app: the distribution in front of ``bucket`` (read with the process's AWS endpoint)."""

    bucket: str
    headers: dict[str, str]
    requested: list[str] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.requested.append(request.full_path)
        key = "index.html" if request.path == "/" else request.path.lstrip("/")  # DefaultRootObject
        s3 = boto3.client("s3")
        try:
            stored = s3.get_object(Bucket=self.bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            response = Response("Access Denied", status=403)  # what S3 answers CloudFront's OAC for a missing key
        else:
            response = Response(stored["Body"].read(), content_type=stored["ContentType"])
            response.headers["Cache-Control"] = stored.get("CacheControl", "")
            response.headers.update(self.headers)
        return response(environ, start_response)
