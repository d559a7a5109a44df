#!/usr/bin/env python3
"""A local stand-in for Azure Resource Manager, for drctl's Azure actions.

The Cosmos DB emulator has no geo-replication, and nothing emulates Traffic Manager or
PostgreSQL flexible servers, so drctl's tests run against this fake. It follows the ARM
REST references and checks what they document, not what drctl happens to send:

- paths `/subscriptions/{id}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}...`
  and verbs (GET, PATCH, POST), and the `api-version` query, which each resource type
  takes only in the versions listed below (400 `InvalidApiVersionParameter` otherwise,
  400 `MissingApiVersionParameter` without one);
- `Authorization: Bearer <token>` (401 `InvalidAuthenticationToken` otherwise);
- bodies: Traffic Manager endpoint PATCH `{"properties": {endpointStatus, weight,
  priority}}` (statuses Enabled|Disabled, weight and priority 1-1000); Cosmos DB
  `failoverPriorityChange` `{"failoverPolicies": [{locationName, failoverPriority}]}`
  naming every region of the account once, each priority once, one of them 0; a
  flexible server PATCH `{"properties": {"replica": {"promoteMode": "standalone" |
  "switchover", "promoteOption": "planned" | "forced"}}}` on a replica only.

It answers in ARM's documented shapes: resources with `id`, `name`, `type`,
`properties`; errors as `{"error": {"code", "message"}}`; long-running operations as 202
with `Azure-AsyncOperation` and `Location` (on this server) and `Retry-After`, the
operation's status `InProgress` for `--polls` reads, then `Succeeded`, and the
resource `Updating` until then.

Controls for tests, under `/_fake/`: POST fail {"method", "path", "status", "times",
"retry_after", "code", "message", "plain" (the message as a text/plain page), "raw" (a
JSON body answered as is)}, POST drop {"method", "path", "times"} (do the call, then close
the connection), POST polls {"polls"}, POST retry_after {"seconds"}, POST set {"path",
"value"}, GET requests, violations, state, health/NAME.

Not checked: RBAC (use /_fake/fail for 403 AuthorizationFailed), resource locks, ETags,
any property drctl does not send.

With `--vault-dir DIR` it also serves a Key Vault (keys only, REST API 7.4 to 2025-07-01)
over TLS, on a second port, with a certificate of its own authority (made with openssl
into DIR; GET /_fake/vault gives {"url", "ca"}). It checks what the Key Vault reference
documents: `/keys/{name}` (names of letters, digits and dashes), `/keys/{name}/{version}`,
`/keys/{name}/versions` (paged with `nextLink`, `maxresults` 1-25) and `POST
/keys/{name}/rotate` with no body; the `api-version`; and the challenge: a request
without a token is answered 401 with `WWW-Authenticate: Bearer authorization="...",
resource="https://vault.azure.net"` (as the SDK's first request always is), a wrong
token 401, with the challenge again. Answers are KeyBundles (`key.kid`, `attributes`
with Unix times) and KeyListResults; errors `{"error": {"code", "message"}}`
(`KeyNotFound`, `Forbidden`, `Throttled`). Not checked: access policies or RBAC, key
types and operations, rotation policies.
"""

import argparse
import copy
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SUB = "00000000-0000-4000-8000-00000000c0de"
RG = "mantissa-dr"
API = {
    "Microsoft.Network/trafficmanagerprofiles": {"2022-04-01", "2018-08-01"},
    "Microsoft.DocumentDB/databaseAccounts": {"2024-11-15", "2024-08-15", "2023-04-15"},
    "Microsoft.DBforPostgreSQL/flexibleServers": {"2024-08-01", "2025-08-01"},
}


def rid(provider, *names):
    return f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/{provider}/" + "/".join(names)


def seed():
    tm = "Microsoft.Network/trafficmanagerprofiles"
    endpoints = {}
    for name, target, priority in [("eastus", "mantissa-eastus.example.net", 1),
                                   ("westus2", "mantissa-westus2.example.net", 2)]:
        endpoints[name] = {
            "id": rid(tm, "mantissa-api", "AzureEndpoints", name), "name": name,
            "type": "Microsoft.Network/trafficManagerProfiles/azureEndpoints",
            "properties": {"endpointStatus": "Enabled", "endpointMonitorStatus": "Online",
                           "target": target, "weight": 1, "priority": priority,
                           "targetResourceId": f"/subscriptions/{SUB}/app-{name}"}}
    cosmos = {
        "id": rid("Microsoft.DocumentDB/databaseAccounts", "mantissa-logs"),
        "name": "mantissa-logs", "type": "Microsoft.DocumentDB/databaseAccounts",
        "location": "East US", "kind": "GlobalDocumentDB",
        "properties": {
            "provisioningState": "Succeeded",
            "failoverPolicies": [
                {"id": "mantissa-logs-eastus", "locationName": "East US", "failoverPriority": 0},
                {"id": "mantissa-logs-westus2", "locationName": "West US 2", "failoverPriority": 1}],
            "writeLocations": [{"locationName": "East US", "failoverPriority": 0}],
            "readLocations": [{"locationName": "East US"}, {"locationName": "West US 2"}],
            "enableAutomaticFailover": False,
        },
    }
    pg = "Microsoft.DBforPostgreSQL/flexibleServers"
    servers = {
        "mantissa-pg-eastus": {"id": rid(pg, "mantissa-pg-eastus"), "name": "mantissa-pg-eastus",
                               "type": pg, "location": "eastus",
                               "properties": {"state": "Ready", "version": "16",
                                              "replica": {"role": "Primary", "capacity": 5}}},
        "mantissa-pg-westus2": {"id": rid(pg, "mantissa-pg-westus2"), "name": "mantissa-pg-westus2",
                                "type": pg, "location": "westus2",
                                "properties": {"state": "Ready", "version": "16",
                                               "sourceServerResourceId": rid(pg, "mantissa-pg-eastus"),
                                               "replica": {"role": "AsyncReplica",
                                                           "replicationState": "Active"}}},
    }
    now = int(time.time())
    keys = {"mantissa-cmk": [
        {"version": uuid.uuid4().hex, "created": now - 86400 * 90, "enabled": True},
        {"version": uuid.uuid4().hex, "created": now - 86400, "enabled": True}]}
    return {"endpoints": {"mantissa-api": endpoints}, "cosmos": {"mantissa-logs": cosmos},
            "servers": servers, "operations": {}, "health": {}, "keys": keys}


class Reject(Exception):
    def __init__(self, status, code, message, violation=False):
        super().__init__(message)
        self.status, self.code, self.message, self.violation = status, code, message, violation


def bad(message, code="BadRequest"):
    return Reject(400, code, f"fake: {message}", violation=True)


def norm(region):
    return re.sub(r"\s+", "", region).lower()


class Fake:
    def __init__(self, token, polls, retry_after):
        self.token, self.polls, self.retry_after = token, polls, retry_after
        self.lock = threading.Lock()
        self.state = seed()
        self.requests, self.violations, self.fails, self.drops = [], [], [], []
        self.base = ""
        self.vault_base, self.vault_ca = None, None

    def start_op(self, kind, effect, target):
        op = str(uuid.uuid4())
        self.state["operations"][op] = {"kind": kind, "polls": self.polls, "effect": effect,
                                        "target": target, "status": "InProgress"}
        if self.polls == 0:
            self.finish(op)
        async_url = f"{self.base}/subscriptions/{SUB}/providers/{kind}/operationsStatus/{op}?api-version=2024-11-15"
        loc = f"{self.base}/subscriptions/{SUB}/providers/{kind}/operationResults/{op}?api-version=2024-11-15"
        return [("Azure-AsyncOperation", async_url), ("Location", loc),
                ("Retry-After", str(self.retry_after))]

    def finish(self, op):
        o = self.state["operations"][op]
        if o["status"] == "InProgress":
            o["status"] = "Succeeded"
            o.pop("effect")(self)

    def tick_target(self, target):
        """An operation goes on whether or not anyone reads it: a read of its resource is
        a tick of its clock too."""
        for op, o in list(self.state["operations"].items()):
            if o["target"] == target and o["status"] == "InProgress":
                self.tick(op)

    def tick(self, op):
        o = self.state["operations"][op]
        if o["status"] == "InProgress":
            o["polls"] -= 1
            if o["polls"] <= 0:
                self.finish(op)
        return o


ROUTE = re.compile(
    rf"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"(?P<ns>Microsoft\.[A-Za-z]+)/(?P<type>[A-Za-z]+)/(?P<name>[^/]+)(?P<rest>(/[^/]+)*)$")
OPS = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/providers/(?P<kind>[^/]+/[^/]+)/(?P<what>operationsStatus|operationResults)/(?P<op>[0-9a-f-]+)$")


def handle(f, method, path, query, body):
    m = OPS.match(path)
    if m:
        if method != "GET":
            raise bad(f"{method} on an operation's status")
        o = f.state["operations"].get(m["op"])
        if o is None:
            raise Reject(404, "OperationNotFound", "The operation was not found.")
        o = f.tick(m["op"])
        if m["what"] == "operationsStatus":
            wait = [("Retry-After", str(f.retry_after))] if o["status"] == "InProgress" else []
            return 200, {"id": path, "name": m["op"], "status": o["status"]}, wait
        if o["status"] == "InProgress":
            return 202, None, [("Location", f"{f.base}{path}?api-version=2024-11-15"),
                               ("Retry-After", str(f.retry_after))]
        return 200, {"status": o["status"]}, []
    m = ROUTE.match(path)
    if not m:
        raise bad(f"no such path in Resource Manager: {path}", "InvalidResourceNamespace")
    if m["sub"] != SUB:
        raise Reject(404, "SubscriptionNotFound", f"The subscription '{m['sub']}' could not be found.")
    if m["rg"] != RG:
        raise Reject(404, "ResourceGroupNotFound", f"Resource group '{m['rg']}' could not be found.")
    kind = f"{m['ns']}/{m['type']}"
    versions = API.get(kind)
    if versions is None:
        raise bad(f"resource type {kind} is not simulated", "NoRegisteredProviderFound")
    version = query.get("api-version")
    if version is None:
        raise bad("The api-version query parameter (?api-version=) is required for all requests.",
                  "MissingApiVersionParameter")
    if version not in versions:
        raise bad(f"The resource type '{m['type']}' does not support api-version '{version}'; "
                  f"the supported versions are {sorted(versions)}.", "InvalidApiVersionParameter")
    rest = [p for p in m["rest"].split("/") if p]
    if kind == "Microsoft.Network/trafficmanagerprofiles":
        return traffic_manager(f, method, m["name"], rest, body)
    if kind == "Microsoft.DocumentDB/databaseAccounts":
        return cosmos(f, method, m["name"], rest, body)
    return flexible_server(f, method, m["name"], rest, body)


def traffic_manager(f, method, profile, rest, body):
    eps = f.state["endpoints"].get(profile)
    if eps is None:
        raise Reject(404, "ResourceNotFound", f"The Resource 'Microsoft.Network/trafficmanagerprofiles/{profile}' was not found.")
    if len(rest) != 2 or rest[0] not in ("AzureEndpoints", "ExternalEndpoints", "NestedEndpoints"):
        raise bad(f"a Traffic Manager endpoint is {{profile}}/{{endpointType}}/{{name}}, not {rest}")
    ep = eps.get(rest[1])
    if ep is None or rest[0] != "AzureEndpoints":
        raise Reject(404, "NotFound", f"Endpoint '{rest[0]}/{rest[1]}' was not found in profile '{profile}'.")
    if method == "GET":
        return 200, ep, []
    if method != "PATCH":
        raise bad(f"{method} on an endpoint", "MethodNotAllowed")
    props = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(props, dict) or not props:
        raise bad("an endpoint PATCH is {\"properties\": {...}}")
    for k, v in props.items():
        if k == "endpointStatus":
            if v not in ("Enabled", "Disabled"):
                raise bad(f"endpointStatus must be Enabled or Disabled, not {v!r}")
        elif k in ("weight", "priority"):
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 1000:
                raise bad(f"{k} must be an integer from 1 to 1000, not {v!r}")
        else:
            raise bad(f"property {k} is not one drctl should send")
    ep["properties"].update(props)
    if ep["properties"]["endpointStatus"] == "Disabled":
        ep["properties"]["endpointMonitorStatus"] = "Disabled"
    else:
        ep["properties"]["endpointMonitorStatus"] = "Online"
    return 200, ep, []


def cosmos(f, method, name, rest, body):
    acct = f.state["cosmos"].get(name)
    if acct is None:
        raise Reject(404, "ResourceNotFound", f"The Resource 'Microsoft.DocumentDB/databaseAccounts/{name}' was not found.")
    if not rest and method == "GET":
        f.tick_target(name)
        return 200, acct, []
    if rest != ["failoverPriorityChange"] or method != "POST":
        raise bad(f"{method} {'/'.join(rest)} on a database account")
    policies = body.get("failoverPolicies") if isinstance(body, dict) else None
    if not isinstance(policies, list) or not policies:
        raise bad("failoverPriorityChange needs {\"failoverPolicies\": [...]}")
    have = {norm(p["locationName"]): p for p in acct["properties"]["failoverPolicies"]}
    seen, prios = set(), set()
    for i, p in enumerate(policies):
        if not isinstance(p, dict) or not isinstance(p.get("locationName"), str) \
                or not isinstance(p.get("failoverPriority"), int) or isinstance(p.get("failoverPriority"), bool):
            raise bad(f"failoverPolicies[{i}] needs locationName (string) and failoverPriority (integer)")
        loc = norm(p["locationName"])
        if loc not in have:
            raise Reject(400, "BadRequest", f"The account has no region {p['locationName']}.")
        if loc in seen or p["failoverPriority"] in prios:
            raise Reject(400, "BadRequest", "Each region and each priority may appear once.")
        seen.add(loc)
        prios.add(p["failoverPriority"])
    if seen != set(have) or 0 not in prios:
        raise Reject(400, "BadRequest", "Failover priorities must name every region of the account, one of them with priority 0.")
    if acct["properties"]["provisioningState"] != "Succeeded":
        raise Reject(409, "AnotherOperationInProgress", "Another operation on this account is in progress.")
    acct["properties"]["provisioningState"] = "Updating"
    wanted = copy.deepcopy(policies)

    def effect(f, acct=acct, wanted=wanted):
        by = {norm(p["locationName"]): p for p in acct["properties"]["failoverPolicies"]}
        for p in wanted:
            by[norm(p["locationName"])]["failoverPriority"] = p["failoverPriority"]
        acct["properties"]["failoverPolicies"].sort(key=lambda p: p["failoverPriority"])
        writer = acct["properties"]["failoverPolicies"][0]["locationName"]
        acct["properties"]["writeLocations"] = [{"locationName": writer, "failoverPriority": 0}]
        acct["properties"]["provisioningState"] = "Succeeded"
    return 202, None, f.start_op("Microsoft.DocumentDB/locations", effect, name)


def flexible_server(f, method, name, rest, body):
    srv = f.state["servers"].get(name)
    if srv is None:
        raise Reject(404, "ResourceNotFound", f"The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/{name}' was not found.")
    if rest:
        raise bad(f"{'/'.join(rest)} under a flexible server is not simulated")
    if method == "GET":
        f.tick_target(name)
        return 200, srv, []
    if method != "PATCH":
        raise bad(f"{method} on a flexible server")
    replica = body.get("properties", {}).get("replica") if isinstance(body, dict) else None
    if not isinstance(replica, dict):
        raise bad("a promotion is {\"properties\": {\"replica\": {promoteMode, promoteOption}}}")
    if replica.get("promoteMode") not in ("standalone", "switchover"):
        raise bad(f"replica.promoteMode must be standalone or switchover, not {replica.get('promoteMode')!r}")
    if replica.get("promoteOption", "planned") not in ("planned", "forced"):
        raise bad(f"replica.promoteOption must be planned or forced, not {replica.get('promoteOption')!r}")
    if srv["properties"]["replica"]["role"] not in ("AsyncReplica", "GeoAsyncReplica"):
        raise Reject(400, "ServerIsNotReplica", f"Server '{name}' is not a read replica.")
    if srv["properties"]["state"] != "Ready":
        raise Reject(409, "AnotherOperationInProgress", "An operation is in progress on the server.")
    srv["properties"]["state"] = "Updating"

    def effect(f, srv=srv):
        srv["properties"]["state"] = "Ready"
        srv["properties"]["replica"] = {"role": "Primary", "capacity": 5}
        srv["properties"].pop("sourceServerResourceId", None)
    return 202, None, f.start_op("Microsoft.DBforPostgreSQL/locations", effect, name)


VAULT_API = {"7.4", "7.5", "7.6", "2025-07-01"}
KEY_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
CHALLENGE = ('Bearer authorization="https://login.microsoftonline.com/'
             '00000000-0000-4000-8000-0000000000aa", resource="https://vault.azure.net"')
PAGE = 2


def key_bundle(f, name, v):
    attrs = {"enabled": v["enabled"], "created": v["created"],
             "updated": v.get("updated", v["created"]),
             "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}
    return {"key": {"kid": f"{f.vault_base}/keys/{name}/{v['version']}", "kty": "RSA",
                    "key_ops": ["wrapKey", "unwrapKey"], "n": "sXch", "e": "AQAB"},
            "attributes": attrs}


def key_vault(f, method, path, query, raw):
    version = query.get("api-version")
    if version is None:
        raise bad("The 'api-version' query parameter is missing.", "BadParameter")
    if version not in VAULT_API:
        raise bad(f"The specified version ({version}) is not recognized.", "BadParameter")
    parts = path.split("/")[1:]
    if len(parts) < 2 or parts[0] != "keys":
        raise bad(f"no such Key Vault path: {path}", "NotFound")
    name = parts[1]
    if not KEY_NAME.match(name):
        raise bad(f"the key name {name!r} is not letters, digits and dashes", "BadParameter")
    versions = f.state["keys"].get(name)
    if versions is None:
        raise Reject(404, "KeyNotFound", f"A key with (name/id) {name} was not found in this key vault.")
    rest = [p for p in parts[2:]]
    current = max(versions, key=lambda v: v["created"])
    if method == "GET" and rest in ([], [""]):
        return 200, key_bundle(f, name, current), []
    if method == "GET" and rest == ["versions"]:
        size = int(query.get("maxresults", "25"))
        if not 1 <= size <= 25:
            raise bad(f"maxresults must be 1 to 25, not {size}", "BadParameter")
        start = int(query.get("$skiptoken", "0"))
        ordered = sorted(versions, key=lambda v: v["version"])
        page = ordered[start:start + min(size, PAGE)]
        items = [{"kid": b["key"]["kid"], "attributes": b["attributes"]}
                 for b in (key_bundle(f, name, v) for v in page)]
        nxt = start + len(page)
        link = (f"{f.vault_base}/keys/{name}/versions?api-version={version}&$skiptoken={nxt}"
                if nxt < len(ordered) else None)
        return 200, {"value": items, "nextLink": link}, []
    if method == "GET" and len(rest) == 1:
        v = next((v for v in versions if v["version"] == rest[0]), None)
        if v is None:
            raise Reject(404, "KeyNotFound", f"A key with (name/id) {name}/{rest[0]} was not found in this key vault.")
        return 200, key_bundle(f, name, v), []
    if method == "POST" and rest == ["rotate"]:
        if raw:
            raise bad("rotate takes no body")
        # A second past the current one: the versions of one key never share a time.
        v = {"version": uuid.uuid4().hex, "created": max(int(time.time()), current["created"] + 1),
             "enabled": True}
        versions.append(v)
        return 200, key_bundle(f, name, v), []
    raise bad(f"{method} {path} is not a Key Vault keys call drctl should make", "BadParameter")


def make_certificates(directory):
    """A certificate authority and a certificate of 127.0.0.1 and localhost it signed."""
    os.makedirs(directory, exist_ok=True)
    ca, ca_key = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca.key")
    cert, key = os.path.join(directory, "vault.pem"), os.path.join(directory, "vault.key")
    csr, ext = os.path.join(directory, "vault.csr"), os.path.join(directory, "vault.ext")
    with open(ext, "w") as e:
        e.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=drctl test vault CA", "-keyout", ca_key, "-out", ca,
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"], **quiet)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", csr], **quiet)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                    "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert], **quiet)
    return ca, cert, key


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=()):
        data = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message, headers=()):
        self.reply(status, {"error": {"code": code, "message": message}}, headers)

    def any(self, method):
        f = self.fake
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path.startswith("/_fake/"):
            return self.control(method, url.path, raw)
        if getattr(self.server, "vault", False):
            return self.vault(method, url, query, raw)
        with f.lock:
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = None
            f.requests.append({"method": method, "path": url.path, "query": query, "body": body})
            if self.headers.get("Authorization") != f"Bearer {f.token}":
                return self.error(401, "InvalidAuthenticationToken", "The access token is invalid.")
            if body is None:
                f.violations.append(f"{method} {url.path}: the body is not JSON")
                return self.error(400, "InvalidRequestContent", "fake: the body is not JSON")
            return self.answer(method, url.path, lambda: handle(f, method, url.path, query, body))

    def answer(self, method, path, call):
        """An injected error, or the call's answer (a refusal in the API's shape), or a
        dropped connection after the call landed. Under the fake's lock."""
        if self.injected(method, path):
            return None
        try:
            status, out, headers = call()
        except Reject as r:
            if r.violation:
                self.fake.violations.append(f"{method} {path}: {r.message}")
            return self.error(r.status, r.code, r.message)
        if self.dropped(method, path):
            return None
        return self.reply(status, out, headers)

    def injected(self, method, path):
        """Answers an error the test asked for, if one is due."""
        for rule in self.fake.fails:
            if rule["times"] > 0 and rule["method"] in (method, "*") and rule["path"] in path:
                rule["times"] -= 1
                hdrs = [("Retry-After", rule["retry_after"])] if rule.get("retry_after") else []
                if "raw" in rule:
                    # A gateway's JSON, not in ARM's error shape.
                    self.reply(rule["status"], rule["raw"], hdrs)
                    return True
                if rule.get("plain"):
                    # A gateway's page, not ARM's: the message as plain text.
                    data = rule["message"].encode()
                    self.send_response(rule["status"])
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return True
                self.error(rule["status"], rule.get("code", "InjectedByTheTest"),
                           rule.get("message", "injected by the test"), hdrs)
                return True
        return False

    def dropped(self, method, path):
        """Closes the connection unanswered, if the test asked for it: the call landed."""
        for rule in self.fake.drops:
            if rule["times"] > 0 and rule["method"] in (method, "*") and rule["path"] in path:
                rule["times"] -= 1
                self.close_connection = True
                self.connection.shutdown(2)
                return True
        return False

    def vault(self, method, url, query, raw):
        f = self.fake
        with f.lock:
            auth = self.headers.get("Authorization")
            f.requests.append({"method": method, "path": url.path, "query": query,
                               "host": "vault", "authorized": auth is not None})
            if auth is None:
                if raw:
                    f.violations.append(f"{method} {url.path}: a body before the challenge")
                return self.error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                                  [("WWW-Authenticate", CHALLENGE)])
            if auth != f"Bearer {f.token}":
                return self.error(401, "Unauthorized", "AKV10022: Invalid audience or token.",
                                  [("WWW-Authenticate", CHALLENGE)])
            return self.answer(method, url.path, lambda: key_vault(f, method, url.path, query, raw))

    def control(self, method, path, raw):
        f = self.fake
        body = json.loads(raw) if raw else {}
        with f.lock:
            if path == "/_fake/fail" and method == "POST":
                f.fails.append(dict({"method": "*", "times": 1}, **body))
            elif path == "/_fake/drop" and method == "POST":
                f.drops.append(dict({"method": "*", "times": 1}, **body))
            elif path == "/_fake/polls" and method == "POST":
                f.polls = int(body["polls"])
            elif path == "/_fake/retry_after" and method == "POST":
                f.retry_after = int(body["seconds"])
            elif path == "/_fake/set" and method == "POST":
                node = f.state
                *keys, last = body["path"]
                for k in keys:
                    node = node[k]
                node[last] = body["value"]
            elif path.startswith("/_fake/health/") and method == "GET":
                code = f.state["health"].get(path.rsplit("/", 1)[1], 200)
                return self.reply(code, {"healthy": code == 200})
            elif path == "/_fake/vault" and method == "GET":
                return self.reply(200, {"url": f.vault_base, "ca": f.vault_ca})
            elif path == "/_fake/requests":
                return self.reply(200, f.requests)
            elif path == "/_fake/violations":
                return self.reply(200, f.violations)
            elif path == "/_fake/state":
                return self.reply(200, json.loads(json.dumps(f.state, default=str)))
            else:
                return self.error(404, "NotFound", f"no control {method} {path}")
            return self.reply(200, {})

    def do_GET(self):
        self.any("GET")

    def do_PATCH(self):
        self.any("PATCH")

    def do_POST(self):
        self.any("POST")

    def do_PUT(self):
        self.any("PUT")

    def do_DELETE(self):
        self.any("DELETE")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="drctl-fake-token")
    ap.add_argument("--polls", type=int, default=2, help="reads before an operation is done")
    ap.add_argument("--retry-after", type=int, default=0, help="the Retry-After of operations")
    ap.add_argument("--vault-dir", help="also serve a Key Vault over TLS, its certificates here")
    args = ap.parse_args()
    Handler.fake = Fake(args.token, args.polls, args.retry_after)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    Handler.fake.base = f"http://127.0.0.1:{server.server_address[1]}"
    if args.vault_dir:
        ca, cert, key = make_certificates(args.vault_dir)
        vault = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        vault.socket = tls.wrap_socket(vault.socket, server_side=True)
        vault.vault = True
        Handler.fake.vault_base = f"https://127.0.0.1:{vault.server_address[1]}"
        Handler.fake.vault_ca = ca
        threading.Thread(target=vault.serve_forever, daemon=True).start()
    print(f"listening on {Handler.fake.base}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
