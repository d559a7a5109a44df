#!/usr/bin/env python3
"""A local stand-in for the Google Cloud REST APIs drctl's GCP actions call.

No official emulator exists for Cloud SQL Admin, Memorystore, Compute Engine, Cloud DNS
or Cloud KMS, so drctl's tests run against this fake. It follows Google's REST
references, and it checks what they document, not what drctl happens to send:

- the method and path of each call, and its query (`instance=` of sqladmin's
  operations.list, `updateMask=state` of a KMS version patch);
- `Authorization: Bearer <token>` on every call (401 UNAUTHENTICATED otherwise);
- body fields and their JSON types, after the proto3 JSON mapping (int64 as a string or
  a number, enums as their names, bytes as base64);
- the preconditions the services enforce: Cloud SQL's failover `settingsVersion`,
  Compute's `fingerprint` (both 412), Cloud DNS deletions that must match the record set
  exactly (412 conditionNotMet), a KMS version that must be enabled to become primary.

It answers in Google's documented shapes: resources, Cloud SQL operations
(`sql#operation`, PENDING/RUNNING/DONE), Compute operations (`compute#operation`),
`google.longrunning.Operation` for Memorystore, Cloud DNS changes (pending/done), and
errors as `{"error": {"code", "message", "status", "errors"}}`. Long-running operations
take `--polls` reads before they are done, and their effect lands when they end.

Controls for tests, under `/_fake/` (never part of Google's APIs):
  POST /_fake/fail   {"method", "path", "status", "times", "retry_after"}: the next
                     `times` calls whose path contains `path` answer with that error
                     (429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE,
                     403 PERMISSION_DENIED, 404 NOT_FOUND).
  POST /_fake/drop   {"method", "path", "times"}: do the call, then close the
                     connection without answering (a crash after the call landed).
  POST /_fake/polls  {"polls": n}: reads before an operation is done from now on.
  POST /_fake/set    {"path": [...keys], "value": v}: change the state (a change made
                     by someone else).
  GET  /_fake/health/REGION: a region's health endpoint (the application's, not
                     Google's), 200 or what `health` in the state says (set it to 503).
  GET  /_fake/requests: every call so far (method, path, query, body).
  GET  /_fake/violations: every call that broke a documented rule (also answered 400).
  GET  /_fake/state: the whole state.

What it does not check: OAuth scopes and IAM (any bearer token equal to --token is
allowed; use /_fake/fail for a permission error), quotas, request ids, field masks other
than `state`, fields drctl does not send, the real services' timing. It answers enums by
name even when a request asks for numbers (the client libraries read both).
"""

import argparse
import base64
import copy
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PROJECT = "ggen-prod"

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def seed():
    return {
        "sql": {
            "ggen-db-central": {
                "kind": "sql#instance", "name": "ggen-db-central", "project": PROJECT,
                "state": "RUNNABLE", "instanceType": "CLOUD_SQL_INSTANCE",
                "databaseVersion": "POSTGRES_16", "region": "us-central1",
                "gceZone": "us-central1-a", "secondaryGceZone": "us-central1-b",
                "replicaNames": ["ggen-db-east"],
                "settings": {"settingsVersion": "7", "availabilityType": "REGIONAL",
                             "tier": "db-custom-4-16384"},
            },
            "ggen-db-east": {
                "kind": "sql#instance", "name": "ggen-db-east", "project": PROJECT,
                "state": "RUNNABLE", "instanceType": "READ_REPLICA_INSTANCE",
                "masterInstanceName": f"{PROJECT}:ggen-db-central",
                "databaseVersion": "POSTGRES_16", "region": "us-east1",
                "gceZone": "us-east1-b",
                "settings": {"settingsVersion": "3", "availabilityType": "ZONAL",
                             "tier": "db-custom-4-16384"},
            },
        },
        "sql_ops": {},
        "redis": {
            f"projects/{PROJECT}/locations/us-east1/instances/ggen-cache-east": {
                "name": f"projects/{PROJECT}/locations/us-east1/instances/ggen-cache-east",
                "tier": "STANDARD_HA", "state": "READY", "memorySizeGb": 5,
                "locationId": "us-east1-b", "alternativeLocationId": "us-east1-b",
                "currentLocationId": "us-east1-c", "host": "10.40.0.3", "port": 6379,
                "redisVersion": "REDIS_7_2",
            },
            f"projects/{PROJECT}/locations/us-east1/instances/ggen-cache-basic": {
                "name": f"projects/{PROJECT}/locations/us-east1/instances/ggen-cache-basic",
                "tier": "BASIC", "state": "READY", "memorySizeGb": 1,
                "locationId": "us-east1-b", "currentLocationId": "us-east1-b",
                "host": "10.40.0.4", "port": 6379, "redisVersion": "REDIS_7_2",
            },
        },
        "lro": {},
        "backend_services": {
            "global/ggen-web": {
                "kind": "compute#backendService", "name": "ggen-web", "id": "4711",
                "loadBalancingScheme": "EXTERNAL_MANAGED", "protocol": "HTTP",
                "fingerprint": base64.b64encode(b"fp-1").decode(),
                "backends": [
                    {"group": f"https://www.googleapis.com/compute/v1/projects/{PROJECT}"
                              "/zones/us-central1-a/instanceGroups/ggen-web-central",
                     "balancingMode": "UTILIZATION", "maxUtilization": 0.8,
                     "capacityScaler": 1.0},
                    {"group": f"https://www.googleapis.com/compute/v1/projects/{PROJECT}"
                              "/zones/us-east1-b/instanceGroups/ggen-web-east",
                     "balancingMode": "UTILIZATION", "maxUtilization": 0.8,
                     "capacityScaler": 0.0},
                ],
            },
        },
        "compute_ops": {},
        "dns": {
            "ggen": {
                "app.ggen.example. A": {
                    "kind": "dns#resourceRecordSet", "name": "app.ggen.example.",
                    "type": "A", "ttl": 60, "rrdatas": ["203.0.113.10"],
                },
            },
        },
        "dns_changes": {},
        "kms": {
            f"projects/{PROJECT}/locations/us-central1/keyRings/ggen/cryptoKeys/app-data": {
                "purpose": "ENCRYPT_DECRYPT", "primary": 1,
                "versions": {1: "ENABLED"},
            },
        },
        # Not Google's: the regions' own health endpoints, for runbooks' checks.
        "health": {"us-central1": 200, "us-east1": 200, "europe-west1": 200},
        "counter": 0,
    }


class Fake:
    def __init__(self, token, polls):
        self.token = token
        self.polls = polls
        self.lock = threading.Lock()
        self.state = seed()
        self.requests = []
        self.violations = []
        self.fails = []
        self.drops = []

    def next_id(self, prefix):
        self.state["counter"] += 1
        return f"{prefix}-{self.state['counter']:04d}"


class Reject(Exception):
    """An answer in Google's error shape."""

    def __init__(self, code, message, reason=None, violation=False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.violation = violation


def bad(message):
    """A request that breaks the documented format."""
    return Reject(400, f"fake: {message}", "invalid", violation=True)


def need(obj, key, kind, where):
    if not isinstance(obj, dict) or key not in obj:
        raise bad(f"{where}: `{key}` is required")
    value = obj[key]
    if kind == "int64":
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value))
        ):
            raise bad(f"{where}.{key}: an int64 (a JSON number or a string of digits), got {value!r}")
        return int(value)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"{where}.{key}: a number, got {value!r}")
        return float(value)
    if kind == "bytes":
        if not isinstance(value, str):
            raise bad(f"{where}.{key}: base64 bytes, got {value!r}")
        try:
            return base64.b64decode(value.replace("-", "+").replace("_", "/") + "==", validate=False)
        except Exception as e:  # noqa: BLE001 - any decoding failure is the caller's fault
            raise bad(f"{where}.{key}: not base64: {e}")
    if not isinstance(value, kind):
        raise bad(f"{where}.{key}: a {kind.__name__}, got {value!r}")
    return value


ENUMS_AS_INT = threading.local()


def enum(obj, key, names, where, default=None):
    """An enum field: its name, or (with `$alt=json;enum-encoding=int`) its number in
    `names`, the proto's values in order from 0."""
    if key not in obj:
        if default is None:
            raise bad(f"{where}: `{key}` is required")
        return default
    value = obj[key]
    if isinstance(value, str) and value in names:
        return value
    if getattr(ENUMS_AS_INT, "value", False) and isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    raise bad(f"{where}.{key}: {value!r} is not one of {names}"
              + ("" if getattr(ENUMS_AS_INT, "value", False) else " (numbers need $alt=json;enum-encoding=int)"))


RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


class Api:
    """The routes: (method, regex) -> handler(fake, match, query, body)."""

    def __init__(self):
        self.routes = []

    def route(self, method, pattern):
        def deco(fn):
            self.routes.append((method, re.compile("^" + pattern + "$"), fn))
            return fn
        return deco


api = Api()
P = r"(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])"


def only_project(project):
    if project != PROJECT:
        raise Reject(404, f"The project {project} does not exist.", "notFound")


# --- Cloud SQL Admin v1 ------------------------------------------------------------------

def sql_instance(f, project, name):
    only_project(project)
    inst = f.state["sql"].get(name)
    if inst is None:
        raise Reject(404, "The Cloud SQL instance does not exist.", "instanceDoesNotExist")
    return inst


def sql_op(f, project, instance, kind, effect):
    name = f.next_id("op")
    op = {
        "kind": "sql#operation", "name": name, "targetId": instance, "targetProject": project,
        "operationType": kind, "status": "PENDING", "polls": f.polls, "effect": effect,
        "selfLink": f"https://sqladmin.googleapis.com/v1/projects/{project}/operations/{name}",
    }
    f.state["sql_ops"][name] = op
    if f.polls == 0:
        finish_sql(f, op)
    return op


def finish_sql(f, op):
    op["status"] = "DONE"
    effect = op.pop("effect", None)
    if effect:
        effect(f)


def show_sql_op(op):
    return {k: v for k, v in op.items() if k not in ("polls", "effect")}


def tick_sql(f, op):
    if op["status"] == "DONE":
        return
    op["polls"] -= 1
    if op["polls"] <= 0:
        finish_sql(f, op)
    else:
        op["status"] = "RUNNING"


@api.route("GET", rf"/v1/projects/{P}/instances/(?P<instance>[a-z][a-z0-9-]*)")
def sql_get(f, m, q, body):
    return sql_instance(f, m["project"], m["instance"])


@api.route("POST", rf"/v1/projects/{P}/instances/(?P<instance>[a-z][a-z0-9-]*)/promoteReplica")
def sql_promote(f, m, q, body):
    inst = sql_instance(f, m["project"], m["instance"])
    if inst["instanceType"] != "READ_REPLICA_INSTANCE":
        raise Reject(400, "The instance is not a read replica.", "instanceNotReplica")
    for k in q:
        if k not in ("failover",):
            raise bad(f"promoteReplica: unknown query parameter {k}")

    def effect(f, name=m["instance"]):
        i = f.state["sql"][name]
        master = i.pop("masterInstanceName", "").split(":")[-1]
        i["instanceType"] = "CLOUD_SQL_INSTANCE"
        if master in f.state["sql"]:
            names = f.state["sql"][master].get("replicaNames", [])
            f.state["sql"][master]["replicaNames"] = [n for n in names if n != name]
    return show_sql_op(sql_op(f, m["project"], m["instance"], "PROMOTE_REPLICA", effect))


@api.route("POST", rf"/v1/projects/{P}/instances/(?P<instance>[a-z][a-z0-9-]*)/failover")
def sql_failover(f, m, q, body):
    inst = sql_instance(f, m["project"], m["instance"])
    ctx = need(body, "failoverContext", dict, "body")
    version = need(ctx, "settingsVersion", "int64", "failoverContext")
    if "kind" in ctx and ctx["kind"] != "sql#failoverContext":
        raise bad(f"failoverContext.kind must be sql#failoverContext, not {ctx['kind']!r}")
    if inst["settings"].get("availabilityType") != "REGIONAL":
        raise Reject(400, "The instance is not configured for high availability.", "notHighlyAvailable")
    if version != int(inst["settings"]["settingsVersion"]):
        raise Reject(412, "Precondition check failed: the settings version does not match.", "conditionNotMet")

    def effect(f, name=m["instance"]):
        i = f.state["sql"][name]
        i["gceZone"], i["secondaryGceZone"] = i["secondaryGceZone"], i["gceZone"]
        i["settings"]["settingsVersion"] = str(int(i["settings"]["settingsVersion"]) + 1)
    return show_sql_op(sql_op(f, m["project"], m["instance"], "FAILOVER", effect))


@api.route("POST", rf"/v1/projects/{P}/instances/(?P<instance>[a-z][a-z0-9-]*)/clone")
def sql_clone(f, m, q, body):
    source = sql_instance(f, m["project"], m["instance"])
    ctx = need(body, "cloneContext", dict, "body")
    dest = need(ctx, "destinationInstanceName", str, "cloneContext")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,97}", dest):
        raise bad(f"cloneContext.destinationInstanceName {dest!r} is not a valid instance name")
    at = ctx.get("pointInTime")
    if at is not None and not (isinstance(at, str) and RFC3339.fullmatch(at)):
        raise bad(f"cloneContext.pointInTime must be an RFC 3339 timestamp, got {at!r}")
    if dest in f.state["sql"]:
        raise Reject(409, "The Cloud SQL instance already exists.", "instanceAlreadyExists")

    def effect(f, dest=dest, source=copy.deepcopy(source)):
        new = copy.deepcopy(source)
        new.update({"name": dest, "instanceType": "CLOUD_SQL_INSTANCE", "replicaNames": []})
        new.pop("masterInstanceName", None)
        f.state["sql"][dest] = new
    return show_sql_op(sql_op(f, m["project"], m["instance"], "CLONE", effect))


@api.route("GET", rf"/v1/projects/{P}/operations/(?P<op>[a-z0-9-]+)")
def sql_op_get(f, m, q, body):
    only_project(m["project"])
    op = f.state["sql_ops"].get(m["op"])
    if op is None:
        raise Reject(404, "The operation does not exist.", "operationDoesNotExist")
    tick_sql(f, op)
    return show_sql_op(op)


@api.route("GET", rf"/v1/projects/{P}/operations")
def sql_op_list(f, m, q, body):
    only_project(m["project"])
    if "instance" not in q:
        raise bad("operations.list: the `instance` query parameter is required")
    if "maxResults" in q and not re.fullmatch(r"\d+", q["maxResults"]):
        raise bad("operations.list: maxResults must be an integer")
    items = [show_sql_op(o) for o in reversed(list(f.state["sql_ops"].values()))
             if o["targetId"] == q["instance"]]
    return {"kind": "sql#operationsList", "items": items}


# --- Memorystore for Redis v1 -----------------------------------------------------------

REDIS = rf"projects/{P}/locations/(?P<region>[a-z0-9-]+)/instances/(?P<instance>[a-z][a-z0-9-]*)"


def redis_instance(f, m):
    only_project(m["project"])
    name = f"projects/{m['project']}/locations/{m['region']}/instances/{m['instance']}"
    inst = f.state["redis"].get(name)
    if inst is None:
        raise Reject(404, f"Resource '{name}' was not found", "notFound")
    return inst


@api.route("GET", rf"/v1/{REDIS}")
def redis_get(f, m, q, body):
    inst = redis_instance(f, m)
    # An operation goes on whether or not anyone reads it: reading its instance is a
    # tick of its clock too.
    for op in list(f.state["lro"].values()):
        if not op["done"] and op["metadata"]["target"] == inst["name"]:
            tick_lro(f, op)
    return inst


@api.route("POST", rf"/v1/{REDIS}:failover")
def redis_failover(f, m, q, body):
    inst = redis_instance(f, m)
    enum(body, "dataProtectionMode",
         ["DATA_PROTECTION_MODE_UNSPECIFIED", "LIMITED_DATA_LOSS", "FORCE_DATA_LOSS"],
         "FailoverInstanceRequest", default="DATA_PROTECTION_MODE_UNSPECIFIED")
    if inst["tier"] != "STANDARD_HA":
        raise Reject(400, "Failover is only supported for STANDARD_HA tier instances.")
    if inst["state"] != "READY":
        raise Reject(400, f"The instance is {inst['state']}; failover needs READY.", "failedPrecondition")
    inst["state"] = "FAILING_OVER"
    name = f"projects/{m['project']}/locations/{m['region']}/operations/{f.next_id('operation')}"

    def effect(f, inst=inst):
        inst["currentLocationId"], inst["alternativeLocationId"] = (
            inst["alternativeLocationId"], inst["currentLocationId"])
        inst["state"] = "READY"
    op = {"name": name, "done": False, "polls": f.polls, "effect": effect,
          "metadata": {"@type": "type.googleapis.com/google.cloud.redis.v1.OperationMetadata",
                       "target": inst["name"], "verb": "failover"}}
    f.state["lro"][name] = op
    if f.polls == 0:
        finish_lro(f, op, inst)
    return show_lro(op)


def finish_lro(f, op, inst):
    op["done"] = True
    op.pop("effect")(f)
    op["response"] = dict(inst, **{"@type": "type.googleapis.com/google.cloud.redis.v1.Instance"})


def show_lro(op):
    return {k: v for k, v in op.items() if k not in ("polls", "effect")}


@api.route("GET", rf"/v1/(?P<name>projects/{P}/locations/[a-z0-9-]+/operations/[a-z0-9-]+)")
def lro_get(f, m, q, body):
    op = f.state["lro"].get(m["name"])
    if op is None:
        raise Reject(404, f"Operation {m['name']} not found", "notFound")
    tick_lro(f, op)
    return show_lro(op)


def tick_lro(f, op):
    if not op["done"]:
        op["polls"] -= 1
        if op["polls"] <= 0:
            finish_lro(f, op, f.state["redis"][op["metadata"]["target"]])


# --- Compute Engine v1: backend services --------------------------------------------------

def service_key(m):
    return f"{m.get('region') or 'global'}/{m['service']}"


def backend_service(f, m):
    only_project(m["project"])
    svc = f.state["backend_services"].get(service_key(m))
    if svc is None:
        where = f"regions/{m['region']}" if m.get("region") else "global"
        raise Reject(404, f"The resource 'projects/{m['project']}/{where}/backendServices/{m['service']}' was not found", "notFound")
    return svc


def compute_op(f, m, target, effect):
    name = f"operation-{f.next_id('c')}"
    region = m.get("region")
    op = {
        "kind": "compute#operation", "id": str(f.state["counter"]), "name": name,
        "operationType": "patch", "targetLink": target, "status": "RUNNING",
        "progress": 0, "polls": f.polls, "effect": effect, "region": region,
        "selfLink": f"https://www.googleapis.com/compute/v1/projects/{m['project']}/"
                    + (f"regions/{region}" if region else "global") + f"/operations/{name}",
    }
    f.state["compute_ops"][name] = op
    if f.polls == 0:
        op["status"] = "DONE"
        op["progress"] = 100
        op.pop("effect")(f)
    return {k: v for k, v in op.items() if k not in ("polls", "effect")}


SVC = r"(?P<service>[a-z]([-a-z0-9]*[a-z0-9])?)"


@api.route("GET", rf"/compute/v1/projects/{P}/global/backendServices/{SVC}")
@api.route("GET", rf"/compute/v1/projects/{P}/regions/(?P<region>[a-z0-9-]+)/backendServices/{SVC}")
def bs_get(f, m, q, body):
    return backend_service(f, m)


@api.route("PATCH", rf"/compute/v1/projects/{P}/global/backendServices/{SVC}")
@api.route("PATCH", rf"/compute/v1/projects/{P}/regions/(?P<region>[a-z0-9-]+)/backendServices/{SVC}")
def bs_patch(f, m, q, body):
    svc = backend_service(f, m)
    if not isinstance(body, dict):
        raise bad("backendServices.patch: the body must be a BackendService object")
    backends = need(body, "backends", list, "BackendService")
    for i, b in enumerate(backends):
        where = f"backends[{i}]"
        need(b, "group", str, where)
        if "capacityScaler" in b:
            c = need(b, "capacityScaler", "number", where)
            if not (c == 0.0 or 0.1 <= c <= 1.0):
                raise bad(f"{where}.capacityScaler must be 0.0 or within [0.1, 1.0], got {c}")
        for k in ("maxUtilization",):
            if k in b and not 0.0 <= need(b, k, "number", where) <= 1.0:
                raise bad(f"{where}.{k} must be within [0.0, 1.0]")
        if "maxRatePerInstance" in b:
            need(b, "maxRatePerInstance", "number", where)
    if "fingerprint" in body and body["fingerprint"] != svc["fingerprint"]:
        raise Reject(412, "Supplied fingerprint does not match current resource fingerprint.", "conditionNotMet")
    groups = {b["group"] for b in svc["backends"]}
    for b in backends:
        if b["group"] not in groups:
            raise Reject(400, f"Invalid value for field 'resource.backends[].group': '{b['group']}'.", "invalid")

    def effect(f, svc=svc, backends=copy.deepcopy(backends)):
        svc["backends"] = backends
        n = int(base64.b64decode(svc["fingerprint"]).decode().split("-")[1]) + 1
        svc["fingerprint"] = base64.b64encode(f"fp-{n}".encode()).decode()
    return compute_op(f, m, f"projects/{m['project']}/backendServices/{m['service']}", effect)


@api.route("GET", rf"/compute/v1/projects/{P}/global/operations/(?P<op>[a-z0-9-]+)")
@api.route("GET", rf"/compute/v1/projects/{P}/regions/(?P<region>[a-z0-9-]+)/operations/(?P<op>[a-z0-9-]+)")
def compute_op_get(f, m, q, body):
    only_project(m["project"])
    op = f.state["compute_ops"].get(m["op"])
    if op is None or op.get("region") != m.get("region"):
        raise Reject(404, f"The resource 'operations/{m['op']}' was not found", "notFound")
    if op["status"] != "DONE":
        op["polls"] -= 1
        if op["polls"] <= 0:
            op["status"] = "DONE"
            op["progress"] = 100
            op.pop("effect")(f)
    return {k: v for k, v in op.items() if k not in ("polls", "effect")}


# --- Cloud DNS v1 ---------------------------------------------------------------------

ZONE = rf"/dns/v1/projects/{P}/managedZones/(?P<zone>[a-z][a-z0-9-]*)"


def zone(f, m):
    only_project(m["project"])
    z = f.state["dns"].get(m["zone"])
    if z is None:
        raise Reject(404, f"The 'parameters.managedZone' resource named '{m['zone']}' does not exist.", "notFound")
    return z


@api.route("GET", rf"{ZONE}/rrsets/(?P<name>[^/]+)/(?P<type>[A-Z]+)")
def rrset_get(f, m, q, body):
    rr = zone(f, m).get(f"{m['name']} {m['type']}")
    if rr is None:
        raise Reject(404, f"The 'parameters.name' resource named '{m['name']}' does not exist.", "notFound")
    return rr


def check_rrset(rr, where):
    name = need(rr, "name", str, where)
    if not name.endswith("."):
        raise bad(f"{where}.name must be a fully qualified name ending in '.', got {name!r}")
    need(rr, "type", str, where)
    need(rr, "ttl", "int64", where)
    datas = need(rr, "rrdatas", list, where)
    if not datas or not all(isinstance(d, str) for d in datas):
        raise bad(f"{where}.rrdatas must be a non-empty list of strings")
    return f"{name} {rr['type']}"


@api.route("POST", rf"{ZONE}/changes")
def change_create(f, m, q, body):
    z = zone(f, m)
    if not isinstance(body, dict):
        raise bad("changes.create: the body must be a Change")
    adds = body.get("additions", [])
    dels = body.get("deletions", [])
    if not isinstance(adds, list) or not isinstance(dels, list) or not (adds or dels):
        raise bad("changes.create: additions and deletions are lists, and one is not empty")
    for i, d in enumerate(dels):
        key = check_rrset(d, f"deletions[{i}]")
        now = z.get(key)
        if now is None or sorted(now["rrdatas"]) != sorted(d["rrdatas"]) or int(now["ttl"]) != int(d["ttl"]):
            raise Reject(412, f"The resource record set '{key}' does not match the deletion: "
                              "the record set was changed or does not exist.", "conditionNotMet")
    deleted = {check_rrset(d, "deletions") for d in dels}
    for i, a in enumerate(adds):
        key = check_rrset(a, f"additions[{i}]")
        if key in z and key not in deleted:
            raise Reject(409, f"The resource record set '{key}' already exists.", "alreadyExists")
    change_id = str(len(f.state["dns_changes"]) + 1)
    ch = {"kind": "dns#change", "id": change_id, "status": "pending",
          "startTime": "2026-12-03T00:00:00.000Z", "additions": adds, "deletions": dels,
          "polls": f.polls, "zone": m["zone"]}

    def effect(f, z=z, adds=adds, dels=dels):
        for d in dels:
            z.pop(f"{d['name']} {d['type']}", None)
        for a in adds:
            z[f"{a['name']} {a['type']}"] = dict(a, kind="dns#resourceRecordSet", ttl=int(a["ttl"]))
    # Cloud DNS applies the change at once for reads, and reports it pending until
    # its servers have it.
    effect(f)
    if f.polls == 0:
        ch["status"] = "done"
    f.state["dns_changes"][f"{m['zone']}/{change_id}"] = ch
    return {k: v for k, v in ch.items() if k not in ("polls", "zone")}


@api.route("GET", rf"{ZONE}/changes")
def change_list(f, m, q, body):
    zone(f, m)
    if q.get("sortBy", "changeSequence") != "changeSequence":
        raise bad(f"changes.list: sortBy may only be changeSequence, not {q['sortBy']!r}")
    if q.get("sortOrder", "ascending") not in ("ascending", "descending"):
        raise bad(f"changes.list: sortOrder {q['sortOrder']!r}")
    if "maxResults" in q and not re.fullmatch(r"\d+", q["maxResults"]):
        raise bad("changes.list: maxResults must be an integer")
    changes = [c for c in f.state["dns_changes"].values() if c["zone"] == m["zone"]]
    changes.sort(key=lambda c: int(c["id"]), reverse=q.get("sortOrder") == "descending")
    changes = changes[: int(q.get("maxResults", 1000))]
    return {"kind": "dns#changesListResponse",
            "changes": [{k: v for k, v in c.items() if k not in ("polls", "zone")} for c in changes]}


@api.route("GET", rf"{ZONE}/changes/(?P<id>[0-9]+)")
def change_get(f, m, q, body):
    zone(f, m)
    ch = f.state["dns_changes"].get(f"{m['zone']}/{m['id']}")
    if ch is None:
        raise Reject(404, f"The 'parameters.changeId' resource named '{m['id']}' does not exist.", "notFound")
    if ch["status"] != "done":
        ch["polls"] -= 1
        if ch["polls"] <= 0:
            ch["status"] = "done"
    return {k: v for k, v in ch.items() if k not in ("polls", "zone")}


# --- Cloud KMS v1 -----------------------------------------------------------------------

KMS_STATES = ["CRYPTO_KEY_VERSION_STATE_UNSPECIFIED", "ENABLED", "DISABLED", "DESTROYED",
              "DESTROY_SCHEDULED", "PENDING_GENERATION", "PENDING_IMPORT", "IMPORT_FAILED",
              "GENERATION_FAILED", "PENDING_EXTERNAL_DESTRUCTION", "EXTERNAL_DESTRUCTION_FAILED"]
KEY = rf"/v1/(?P<key>projects/{P}/locations/[a-z0-9-]+/keyRings/[a-zA-Z0-9_-]+/cryptoKeys/[a-zA-Z0-9_-]+)"


def kms_key(f, m):
    only_project(m["project"])
    k = f.state["kms"].get(m["key"])
    if k is None:
        raise Reject(404, f"{m['key']} not found.", "notFound")
    return k


def show_version(key, n, state):
    return {"name": f"{key}/cryptoKeyVersions/{n}", "state": state,
            "protectionLevel": "SOFTWARE", "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
            "createTime": "2026-12-03T00:00:00Z"}


def show_key(name, k):
    out = {"name": name, "purpose": k["purpose"],
           "versionTemplate": {"protectionLevel": "SOFTWARE", "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"}}
    if k["primary"] is not None:
        out["primary"] = show_version(name, k["primary"], k["versions"][k["primary"]])
    return out


@api.route("GET", KEY)
def kms_get(f, m, q, body):
    return show_key(m["key"], kms_key(f, m))


@api.route("GET", rf"{KEY}/cryptoKeyVersions")
def kms_list(f, m, q, body):
    k = kms_key(f, m)
    if "pageSize" in q and not re.fullmatch(r"\d+", q["pageSize"]):
        raise bad("pageSize must be an integer")
    versions = [show_version(m["key"], n, s) for n, s in sorted(k["versions"].items())]
    return {"cryptoKeyVersions": versions, "totalSize": len(versions)}


@api.route("GET", rf"{KEY}/cryptoKeyVersions/(?P<n>[0-9]+)")
def kms_version_get(f, m, q, body):
    k = kms_key(f, m)
    n = int(m["n"])
    if n not in k["versions"]:
        raise Reject(404, f"{m['key']}/cryptoKeyVersions/{n} not found.", "notFound")
    return show_version(m["key"], n, k["versions"][n])


@api.route("POST", rf"{KEY}/cryptoKeyVersions")
def kms_create(f, m, q, body):
    k = kms_key(f, m)
    if not isinstance(body, dict):
        raise bad("createCryptoKeyVersion: the body must be a CryptoKeyVersion")
    n = max(k["versions"]) + 1
    k["versions"][n] = "ENABLED"
    return show_version(m["key"], n, "ENABLED")


@api.route("POST", rf"{KEY}:updatePrimaryVersion")
def kms_primary(f, m, q, body):
    k = kms_key(f, m)
    vid = need(body, "cryptoKeyVersionId", str, "body")
    if not vid.isdigit() or int(vid) not in k["versions"]:
        raise Reject(404, f"{m['key']}/cryptoKeyVersions/{vid} not found.", "notFound")
    if k["versions"][int(vid)] != "ENABLED":
        raise Reject(400, f"{m['key']}/cryptoKeyVersions/{vid} is not enabled.", "failedPrecondition")
    k["primary"] = int(vid)
    return show_key(m["key"], k)


@api.route("PATCH", rf"{KEY}/cryptoKeyVersions/(?P<n>[0-9]+)")
def kms_patch(f, m, q, body):
    k = kms_key(f, m)
    n = int(m["n"])
    if q.get("updateMask") != "state":
        raise bad(f"cryptoKeyVersions.patch: updateMask must be `state`, got {q.get('updateMask')!r}")
    state = enum(body, "state", KMS_STATES, "CryptoKeyVersion")
    if state not in ("ENABLED", "DISABLED"):
        raise bad(f"CryptoKeyVersion.state may be set to ENABLED or DISABLED, not {state!r}")
    if n not in k["versions"]:
        raise Reject(404, f"{m['key']}/cryptoKeyVersions/{n} not found.", "notFound")
    if k["versions"][n] not in ("ENABLED", "DISABLED"):
        raise Reject(400, f"The version is {k['versions'][n]}.", "failedPrecondition")
    k["versions"][n] = state
    return show_version(m["key"], n, state)


@api.route("POST", rf"{KEY}/cryptoKeyVersions/(?P<n>[0-9]+):destroy")
def kms_destroy(f, m, q, body):
    k = kms_key(f, m)
    n = int(m["n"])
    if n not in k["versions"]:
        raise Reject(404, f"{m['key']}/cryptoKeyVersions/{n} not found.", "notFound")
    if k["versions"][n] not in ("ENABLED", "DISABLED"):
        raise Reject(400, f"The version is {k['versions'][n]}.", "failedPrecondition")
    k["versions"][n] = "DESTROY_SCHEDULED"
    return show_version(m["key"], n, "DESTROY_SCHEDULED")


@api.route("POST", rf"{KEY}:encrypt")
def kms_encrypt(f, m, q, body):
    k = kms_key(f, m)
    plain = need(body, "plaintext", "bytes", "body")
    n = k["primary"]
    if n is None or k["versions"][n] != "ENABLED":
        raise Reject(400, "The key has no enabled primary version.", "failedPrecondition")
    sealed = f"fake-kms-v{n}:".encode() + bytes(b ^ 0x5A for b in plain)
    return {"name": f"{m['key']}/cryptoKeyVersions/{n}",
            "ciphertext": base64.b64encode(sealed).decode(), "protectionLevel": "SOFTWARE"}


@api.route("POST", rf"{KEY}:decrypt")
def kms_decrypt(f, m, q, body):
    k = kms_key(f, m)
    sealed = need(body, "ciphertext", "bytes", "body")
    hit = re.match(rb"fake-kms-v(\d+):", sealed)
    if not hit:
        raise Reject(400, "Decryption failed: the ciphertext is invalid.", "invalidArgument")
    n = int(hit.group(1))
    if k["versions"].get(n) != "ENABLED":
        raise Reject(400, f"{m['key']}/cryptoKeyVersions/{n} is not enabled.", "failedPrecondition")
    plain = bytes(b ^ 0x5A for b in sealed[hit.end():])
    return {"plaintext": base64.b64encode(plain).decode(), "usedPrimary": n == k["primary"],
            "protectionLevel": "SOFTWARE"}


# --- the server ---------------------------------------------------------------------------

def json_default(o):
    raise TypeError(f"not JSON: {o!r}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: Fake = None

    def log_message(self, fmt, *args):  # quiet: the tests read /_fake/requests instead
        pass

    def reply(self, code, obj, headers=()):
        data = json.dumps(obj, default=json_default).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, code, message, reason=None, headers=()):
        status = STATUS_NAMES.get(code, "UNKNOWN")
        self.reply(code, {"error": {"code": code, "message": message, "status": status,
                                    "errors": [{"message": message, "domain": "global",
                                                "reason": reason or status.lower()}]}}, headers)

    def handle_any(self, method):
        f = self.fake
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        # The system parameter `$alt=json;enum-encoding=int` asks for enums as numbers,
        # in requests and answers alike; Google's client libraries send it.
        alt = query.pop("$alt", None)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if url.path.startswith("/_fake/"):
            return self.control(method, url.path, body)
        with f.lock:
            f.requests.append({"method": method, "path": url.path, "query": query, "body": body})
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {f.token}":
                return self.error(401, "Request had invalid authentication credentials. "
                                       "Expected OAuth 2 access token.", "authError")
            if raw and body is None:
                f.violations.append(f"{method} {url.path}: the body is not JSON")
                return self.error(400, "fake: the body is not JSON", "parseError")
            for rule in f.fails:
                if rule["times"] > 0 and rule["method"] in (method, "*") and rule["path"] in url.path:
                    rule["times"] -= 1
                    headers = [("Retry-After", rule["retry_after"])] if rule.get("retry_after") else []
                    return self.error(rule["status"], rule.get("message", "injected by the test"),
                                      None, headers)
            for method_, pattern, fn in api.routes:
                hit = pattern.match(url.path)
                if method_ == method and hit:
                    break
            else:
                f.violations.append(f"{method} {url.path}: no such method in the API")
                return self.error(404, f"fake: no {method} {url.path} in the documented API", "notFound")
            if alt not in (None, "json", "json;enum-encoding=int"):
                f.violations.append(f"{method} {url.path}: $alt={alt!r} is not a documented value")
                return self.error(400, f"fake: $alt={alt!r}", "invalid")
            try:
                ENUMS_AS_INT.value = alt == "json;enum-encoding=int"
                out = fn(f, hit.groupdict(), query, body if body is not None else {})
            except Reject as r:
                if r.violation:
                    f.violations.append(f"{method} {url.path}: {r.message}")
                return self.error(r.code, r.message, r.reason)
            for rule in f.drops:
                if rule["times"] > 0 and rule["method"] in (method, "*") and rule["path"] in url.path:
                    rule["times"] -= 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
            return self.reply(200, out)

    def control(self, method, path, body):
        f = self.fake
        with f.lock:
            if path == "/_fake/fail" and method == "POST":
                f.fails.append(dict({"method": "*", "times": 1}, **body))
            elif path == "/_fake/drop" and method == "POST":
                f.drops.append(dict({"method": "*", "times": 1}, **body))
            elif path == "/_fake/polls" and method == "POST":
                f.polls = int(body["polls"])
            elif path == "/_fake/set" and method == "POST":
                node = f.state
                *keys, last = body["path"]
                for k in keys:
                    node = node[k]
                node[last] = body["value"]
            elif path.startswith("/_fake/health/") and method == "GET":
                region = path.rsplit("/", 1)[1]
                code = f.state["health"].get(region, 404)
                return self.reply(code, {"region": region, "healthy": code == 200})
            elif path == "/_fake/requests":
                return self.reply(200, f.requests)
            elif path == "/_fake/violations":
                return self.reply(200, f.violations)
            elif path == "/_fake/state":
                return self.reply(200, json.loads(json.dumps(f.state, default=str, skipkeys=True)))
            else:
                return self.error(404, f"no control {method} {path}")
            return self.reply(200, {})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="drctl-fake-token")
    ap.add_argument("--polls", type=int, default=2, help="reads before an operation is done")
    args = ap.parse_args()
    Handler.fake = Fake(args.token, args.polls)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
