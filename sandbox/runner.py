"""The whole local stack: moto's server, the Invoice Cloud simulator and the gateway in this process,
each function in worker processes of its own (:mod:`sandbox.functions`)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import requests
from avocette import clock
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.wrappers import Request, Response

from sandbox import demo
from sandbox.functions import FunctionPool, PoolSizes, lambda_variables, stop_pools
from sandbox.gateway import Cors, Gateway, GatewayRoute
from sandbox.invoicecloud import InvoiceCloudSimulator, RefreshTarget
from sandbox.issuer import LocalIssuer
from sandbox.mailbox import mailbox_route
from sandbox.s3events import S3Notifications, S3Trigger
from sandbox.scheduler import LOCAL_PERIOD_SECONDS, Scheduler
from sandbox.serving import RunningServer, free_port, start_server
from sandbox.stack import (
    StackNames,
    StackSecrets,
    environment,
    function_environments,
    provision,
    template_variable_names,
)
from sandbox.statements import put_demo_statements
from stackdef import caches
from stackdef.local import LocalSandbox
from stackdef.portal import PORTAL_DIR
from stackdef.template import evaluate_conditions, function_specs, load_template, parameter_values, resolve

__all__ = ["DEFAULT_BASE_PORT", "PoolSizes", "Sandbox", "SandboxPorts"]

log = logging.getLogger("sandbox")

DEFAULT_BASE_PORT = 3000
SENDER_EMAIL = "billing@avocette.example"
# What the simulator sends as PaymentTypeID (its default config); the sandbox maps them as ops would.
SIMULATOR_PAYMENT_TYPE_IDS = {"1": "CARD", "2": "ACH"}


@dataclass(frozen=True)
class SandboxPorts:
    gateway: int
    simulator: int
    moto: int

    @classmethod
    def from_base(cls, base: int) -> SandboxPorts:
        return cls(gateway=base, simulator=base + 1, moto=base + 2)

    @classmethod
    def free(cls) -> SandboxPorts:
        return cls(gateway=free_port(), simulator=free_port(), moto=free_port())


def _serialized(app: Any) -> Any:
    """moto applies a request in several steps (a cancelled transaction restores a copy of the table);
    DynamoDB applies each atomically. One request at a time keeps moto honest."""
    lock = threading.Lock()

    def locked(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with lock:
            return list(app(environ, start_response))

    return locked


def _openapi_document() -> dict[str, Any]:
    """Built from the functions' resolvers, imported here only when asked for (not at start-up)."""
    from stackdef.openapi import build_openapi_document  # noqa: PLC0415 - imports every function

    return build_openapi_document()


class Sandbox:
    """Start with :meth:`start`, stop with :meth:`stop`.

    The functions run in worker processes (``pools``, by logical id), each with its own environment
    (the AWS settings below, then Globals' and its own variables); one worker per function is ready
    when :meth:`start` returns, and a pool grows to its size (``pool_sizes``) as concurrent invocations
    need it, or at once with ``prewarm``. This process's own environment gets the AWS endpoint and
    every function's variables (for code run here: the demo data, tests calling services directly)
    while running, and the previous environment back when stopped. ``parameters`` override the stack
    parameters the sandbox chooses (``CorsAllowOrigins`` and ``PortalReturnUrl`` for a portal served
    from another origin, as a trial stack's is)."""

    def __init__(
        self,
        ports: SandboxPorts,
        *,
        names: StackNames | None = None,
        schedule_seconds: float = LOCAL_PERIOD_SECONDS,
        pool_sizes: PoolSizes | None = None,
        prewarm: bool = False,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.ports = ports
        # Stack parameters over the template's defaults and the sandbox's own (e.g. InvoiceCloudRefreshAuth);
        # once started, every parameter the sandbox chose (the gateway's CORS reads them).
        self.parameters = dict(parameters or {})
        self.schedule_seconds = schedule_seconds
        self.pool_sizes = pool_sizes or PoolSizes()
        self.prewarm = prewarm
        self.pools: dict[str, FunctionPool] = {}
        self.scheduler: Scheduler | None = None
        self.notifications = S3Notifications(lambda environ, start_response: [])
        self.names = names or StackNames()
        self.secrets = StackSecrets()
        self.simulator: InvoiceCloudSimulator | None = None
        self.issuer: LocalIssuer | None = None
        self._servers: list[RunningServer] = []
        self._saved_environ: dict[str, str] | None = None
        self.environment: dict[str, str] = {}  # every function's variables, once started

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.simulator}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.moto}"

    def local(self) -> LocalSandbox:
        """What ``make dev`` writes to ``.sandbox/`` for a second shell and the tools (:mod:`stackdef.local`)."""
        return LocalSandbox(self.gateway_url, self.simulator_url, self.moto_url, dict(self.environment))

    def start(self) -> None:
        self._saved_environ = dict(os.environ)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.notifications = S3Notifications(_serialized(DomainDispatcherApplication(create_backend_app)))
        self._servers.append(start_server(self.notifications, self.ports.moto, name="moto", security_headers=False))
        # moto keeps its data in this process: a sandbox started after another must not see its tables.
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=10).raise_for_status()
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_ACCESS_KEY_ID": "sandbox",
                "AWS_SECRET_ACCESS_KEY": "sandbox",
                "AWS_DEFAULT_REGION": "us-east-1",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",  # no CloudWatch here; EMF lines would only be noise
                "POWERTOOLS_METRICS_NAMESPACE": "Avocette",
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        caches.reset()
        clock.set_offset(timedelta())
        resources = provision(self.names, self.secrets, sender_email=SENDER_EMAIL)

        invoice_load, load_as_of = demo.demo_invoice_load()
        self.simulator = InvoiceCloudSimulator(
            api_key=self.secrets.ic_api_key,
            biller_guid=self.secrets.biller_guid,
            web_service_key=self.secrets.web_service_key,
            customer_records=demo.demo_customer_records(),
            clock=clock.utc_now,
            payment_file_sink=self._put_payment_file,  # the sandbox's clock, which POST /dev/clock moves
            invoice_load=invoice_load,
            invoice_load_as_of=load_as_of,
            refresh_target=self._refresh_target(),
        )
        self.simulator.base_url = self.simulator_url
        self._servers.append(start_server(self.simulator, self.ports.simulator, name="invoicecloud"))

        self.issuer = LocalIssuer(issuer=f"{self.gateway_url}/dev")
        parameters = {
            "JwtIssuer": self.issuer.issuer,
            "JwtAudience": self.issuer.audience,
            "CorsAllowOrigins": self.gateway_url,
            "InvoiceCloudBaseUrl": self.simulator_url,
            "InvoiceCloudPaymentUrlPrefixes": self.simulator_url + "/",
            "InvoiceCloudCustomerPortalUrl": self.simulator_url + "/portal/",
            "PublicApiBaseUrl": self.gateway_url,
            "PortalReturnUrl": self.gateway_url + "/#/return/{paymentId}",
            "SenderEmail": SENDER_EMAIL,
            # The simulator's PaymentTypeID values (the real ones are an open question).
            "InvoiceCloudPaymentTypeIds": json.dumps(SIMULATOR_PAYMENT_TYPE_IDS),
        }
        # IC_STATEMENT_LINKS=true make dev: CPV2 requests carry signed links to the bills (DESIGN §6g),
        # which the simulator's invoice page shows.
        if os.environ.get("IC_STATEMENT_LINKS", "").strip().lower() in ("1", "true", "yes"):
            parameters["InvoiceCloudStatementLinks"] = "true"
        parameters.update(self.parameters)
        zone = os.environ.get("BILLER_TIME_ZONE", "").strip()
        if zone:  # the biller's zone for every time a payer reads: portal, emails, the simulator's receipt
            parameters["BillerTimeZone"] = zone
            self.simulator.time_zone = ZoneInfo(zone)
        self.parameters = parameters
        self._start_workers(resources, parameters)  # their imports run while this process goes on
        self.environment = environment(resources, parameters)
        os.environ.update(self.environment)
        caches.reset()
        demo.load_demo_data()
        put_demo_statements(self.names.inbound_bucket)  # the bills the demo billing file names
        self._servers.append(start_server(self._gateway(), self.ports.gateway, name="gateway"))
        for pool in self.pools.values():
            if self.prewarm or pool.spec.routes:
                pool.wait_ready(pool.size if self.prewarm else 1)
        for pool in self.pools.values():
            pool.start(pool.size if self.prewarm else 1)  # the others start now, in the background

    def _refresh_target(self) -> RefreshTarget:
        """How the simulator calls the balance refresh, as the biller would set it up with Invoice Cloud:
        the gateway's route, the stack's credential and scheme, and the answer's format."""
        defaults = {name: spec.get("Default") for name, spec in load_template()["Parameters"].items()}
        chosen = {**defaults, **self.parameters}
        credential = self.secrets.refresh_credential
        return RefreshTarget(
            url_template=f"{self.gateway_url}/invoicecloud/accounts/{{accountNumber}}",
            auth=chosen["InvoiceCloudRefreshAuth"],
            username=credential["username"],
            secret=credential["secret"],
            header=chosen["InvoiceCloudRefreshHeader"],
            format_name=chosen["InvoiceCloudRefreshFormat"],
        )

    def _start_workers(self, resources: dict[str, str], parameters: dict[str, str]) -> None:
        """Each function's pool, with its own environment: this process's, without any function's
        variables, then what Lambda sets, then Globals' and the function's own."""
        own = function_environments(resources, parameters)
        template_names = template_variable_names()
        base = {name: value for name, value in os.environ.items() if name not in template_names}
        for spec in function_specs():
            pool = FunctionPool(
                spec,
                size=self.pool_sizes.size_of(spec),
                environment={**base, **lambda_variables(spec), **own[spec.logical_id]},
            )
            self.pools[spec.logical_id] = pool
            if self.prewarm or spec.routes:
                pool.start(pool.size if self.prewarm else 1)

    def _schedule_zones(self, template: dict[str, Any]) -> dict[str, ZoneInfo]:
        """Each scheduled function's zone (a ScheduleV2's ScheduleExpressionTimezone), resolved with the
        sandbox's parameters and the template's defaults."""
        refs = parameter_values(self.parameters, template)
        return {
            pool.spec.logical_id: ZoneInfo(str(resolve(pool.spec.schedule_time_zone, refs)))
            for pool in self.pools.values()
            if pool.spec.schedule_time_zone is not None
        }

    def _put_payment_file(self, key: str, data: bytes) -> tuple[str, str]:
        """Where the simulator's payment files go: the inbound bucket, which triggers the
        reconciliation as S3 would (through moto's server and :class:`S3Notifications`)."""
        bucket = self.names.inbound_bucket
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType="text/csv")
        return bucket, key

    def _gateway(self) -> Gateway:
        template = load_template()
        self.scheduler = Scheduler(self.pools, period=self.schedule_seconds, time_zones=self._schedule_zones(template))
        self.scheduler.start()
        buckets = self.names.buckets()
        self.notifications.triggers = [
            S3Trigger(bucket=buckets[bucket], prefix=prefix, suffix=suffix, function=pool)
            for pool in self.pools.values()
            for bucket, prefix, suffix in pool.spec.s3_events
        ]
        routes = [
            GatewayRoute(method=route.method, path=route.path, authorized=route.authorized, function=pool)
            for pool in self.pools.values()
            for route in pool.spec.routes
        ]
        # The HTTP API's CORS configuration as CloudFormation would choose it for these parameters.
        refs = parameter_values(self.parameters, template)
        cors_config = resolve(
            template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"],
            refs,
            evaluate_conditions(refs, template),
        )
        cors = Cors(
            allow_origins=tuple(cors_config["AllowOrigins"]),
            allow_headers=tuple(header.lower() for header in cors_config["AllowHeaders"]),
            allow_methods=tuple(method.upper() for method in cors_config["AllowMethods"]),
            max_age=int(cors_config.get("MaxAge", 0)),
        )
        assert self.issuer is not None
        return Gateway(
            routes,
            self.issuer,
            cors,
            openapi=_openapi_document,
            extra_routes={
                "/dev/mailbox": mailbox_route,
                "/config.json": self._portal_config,
                "/dev/clock": self.scheduler.clock_route,
                "/dev/run/*": self.scheduler.run_route,
            },
        )

    def _portal_config(self, request: Request) -> Response:
        """The demo portal's settings (``config.json``): the file beside it, if any, with the biller's
        time zone the functions have (``BILLER_TIME_ZONE``), in which the portal shows every time."""
        settings: dict[str, Any] = {}
        if (PORTAL_DIR / "config.json").is_file():
            settings = json.loads((PORTAL_DIR / "config.json").read_text(encoding="utf-8"))
        settings["billerTimeZone"] = self.environment.get("BILLER_TIME_ZONE") or "America/New_York"
        response = Response(json.dumps(settings), content_type="application/json")
        response.headers["Cache-Control"] = "no-store"
        return response

    def stop(self) -> None:
        self.notifications.wait(timeout=30)
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        stop_pools(self.pools.values())
        self.pools = {}
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None
        caches.reset()
        clock.set_offset(timedelta())
