#!/usr/bin/env python3
"""A local stand-in for a Kubernetes API server, for drctl's Kubernetes actions.

No API server installs from the package registries here, so drctl's tests run against
this fake. It follows the Kubernetes API reference and its API conventions, and checks
what they document, not what drctl happens to send:

- paths: `/api/v1/...` for the core group, `/apis/GROUP/VERSION/...` for the others,
  `namespaces/NS/` for namespaced kinds, and the `/scale` and `/status` subresources;
  verbs GET and PATCH (anything else: 405 MethodNotAllowed);
- `Authorization: Bearer <token>` (401 Unauthorized otherwise);
- a PATCH's Content-Type: `application/strategic-merge-patch+json` (built-in kinds
  only: 415 for a custom resource, as the API server answers),
  `application/merge-patch+json` or `application/json-patch+json`; a body that is JSON
  of the right shape (an object for merge patches); `/scale` patches may only touch
  `spec.replicas`, an integer of 0 or more (422 Invalid otherwise);
- query parameters from the documented set (`fieldManager`, `dryRun`, `force`,
  `fieldValidation`, `pretty`).

It answers objects with `apiVersion`, `kind` and `metadata` (`resourceVersion`,
`generation`, bumped on a change of `spec` only), `autoscaling/v1` Scale objects, and
errors as `Status` objects (`kind: Status`, `status: Failure`, `reason`, `code`,
`details`). Its controllers act like the real ones, slowly: after a change of a
workload's spec the status converges over `--polls` reads (observedGeneration first,
then the updated, ready and available replicas), and a node's `unschedulable` is kept.
Strategic merge patches merge the built-in kinds' merge lists (containers, env, volumes,
volumeMounts, imagePullSecrets, ports) by their merge keys; other lists are replaced.

Controls for tests, under `/_fake/` (never part of the Kubernetes API):
  POST /_fake/fail {"method", "path", "status", "times", "retry_after", "message",
       "raw" (a JSON body answered as is, not a Status)}: the next calls
       whose path contains `path` answer this status as a Status object (429
       TooManyRequests with Retry-After and details.retryAfterSeconds, 409 Conflict, 500 InternalError, 503
       ServiceUnavailable, 403 Forbidden, 404 NotFound).
  POST /_fake/drop {"method", "path", "times"}: do the call, then close the connection.
  POST /_fake/polls {"polls": n}
  GET  /_fake/requests, /_fake/violations, /_fake/state
  GET  /_fake/health/NAME: an application's health endpoint (200, or what `health`
       in the state says), for runbooks' checks.

Not checked: RBAC (any request with the token is allowed; use /_fake/fail for 403),
admission, resourceVersion preconditions, field validation of the objects' schemas
beyond the fields drctl changes, server-side apply, watches.
"""

import argparse
import copy
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

QUERY = {"fieldManager", "dryRun", "force", "fieldValidation", "pretty"}
BUILTIN_GROUPS = {"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io"}
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 409: "Conflict", 415: "UnsupportedMediaType",
           422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable"}
# plural -> (group, version, kind, namespaced)
KINDS = {
    "deployments": ("apps", "v1", "Deployment", True),
    "statefulsets": ("apps", "v1", "StatefulSet", True),
    "configmaps": ("", "v1", "ConfigMap", True),
    "services": ("", "v1", "Service", True),
    "nodes": ("", "v1", "Node", False),
    "widgets": ("example.com", "v1", "Widget", True),
}


def workload(kind, name, replicas, image, available=True):
    obj = {
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": "prod", "generation": 1, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": image,
                                                       "env": [{"name": "ROLE", "value": "standby"}]}]}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": replicas, "availableReplicas": replicas},
    }
    if kind == "StatefulSet":
        obj["spec"]["serviceName"] = name
        obj["status"].update({"currentRevision": f"{name}-1", "updateRevision": f"{name}-1"})
    else:
        obj["status"]["conditions"] = [{
            "type": "Available", "status": "True" if available else "False",
            "reason": "MinimumReplicasAvailable", "lastTransitionTime": "2026-12-01T00:00:00Z"}]
    return obj


def seed():
    objs = {}

    def put(plural, o):
        ns = o["metadata"].get("namespace", "")
        o["metadata"].setdefault("uid", f"uid-{plural}-{o['metadata']['name']}")
        o["metadata"].setdefault("resourceVersion", "1")
        objs[f"{plural}/{ns}/{o['metadata']['name']}"] = o

    put("deployments", workload("Deployment", "api", 0, "registry.example/api:4.2", available=False))
    put("deployments", workload("Deployment", "ingest", 2, "registry.example/ingest:4.2"))
    put("statefulsets", workload("StatefulSet", "workers", 0, "registry.example/workers:4.2"))
    put("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "app-config", "namespace": "prod"},
                       "data": {"DB_HOST": "db.eu-west-1.internal", "REGION_ROLE": "standby"}})
    put("widgets", {"apiVersion": "example.com/v1", "kind": "Widget",
                    "metadata": {"name": "w", "namespace": "prod", "generation": 1},
                    "spec": {"size": 1}})
    for n in ("standby-node-1", "standby-node-2"):
        put("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n},
                      "spec": {"podCIDR": "10.1.0.0/24"},
                      "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    return {"objects": objs, "rollouts": {}, "health": {}, "rv": 1}


class Reject(Exception):
    def __init__(self, code, message, violation=False, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.violation = violation
        self.details = details or {}


def bad(code, message):
    return Reject(code, f"fake: {message}", violation=True)


# The lists the built-in kinds merge (`patchStrategy: merge`), by their merge key; every
# other list a strategic merge patch replaces whole.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name",
              "env": "name", "volumes": "name", "volumeMounts": "mountPath",
              "imagePullSecrets": "name", "ports": "containerPort"}


def strategic(target, patch):
    """Strategic merge: maps recursively, the lists of MERGE_KEYS by their key, null
    deletes."""
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = strategic(out.get(k, {}), v)
        elif (k in MERGE_KEYS and isinstance(v, list) and v
              and all(isinstance(i, dict) and MERGE_KEYS[k] in i for i in v)
              and isinstance(out.get(k), list)):
            key = MERGE_KEYS[k]
            merged = copy.deepcopy(out[k])
            for item in v:
                hit = next((m for m in merged if isinstance(m, dict) and m.get(key) == item[key]), None)
                if hit is None:
                    merged.append(copy.deepcopy(item))
                else:
                    merged[merged.index(hit)] = strategic(hit, item)
            out[k] = merged
        else:
            out[k] = copy.deepcopy(v)
    return out


def merge(target, patch):
    """JSON merge patch (RFC 7386)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(out.get(k), v)
    return out


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

    def key_of(self, plural, ns, name):
        return f"{plural}/{ns or ''}/{name}"

    def get(self, plural, ns, name):
        group, version, kind, namespaced = KINDS[plural]
        obj = self.state["objects"].get(self.key_of(plural, ns, name))
        if obj is None:
            resource = f"{plural}.{group}" if group else plural
            raise Reject(404, f'{resource} "{name}" not found',
                         details={"name": name, "group": group, "kind": plural})
        self.tick(plural, ns, name, obj)
        return obj

    def tick(self, plural, ns, name, obj):
        """A read of a workload is a tick of its controller's clock."""
        key = self.key_of(plural, ns, name)
        left = self.state["rollouts"].get(key)
        if left is None:
            return
        want = obj["spec"].get("replicas", 1)
        st = obj["status"]
        st["observedGeneration"] = obj["metadata"]["generation"]
        if left <= 1:
            st.update({"replicas": want, "updatedReplicas": want, "readyReplicas": want,
                       "availableReplicas": want})
            if obj["kind"] == "StatefulSet":
                st["currentRevision"] = st["updateRevision"]
            for c in st.get("conditions", []):
                if c["type"] == "Available":
                    c["status"] = "True" if want > 0 else "False"
            del self.state["rollouts"][key]
        else:
            st["updatedReplicas"] = max(0, want - 1)
            st["readyReplicas"] = max(0, want - 1)
            st["availableReplicas"] = max(0, want - 1)
            self.state["rollouts"][key] = left - 1

    def changed(self, plural, ns, name, before, after):
        """Bookkeeping after a write: resourceVersion, generation, the controller."""
        self.state["rv"] += 1
        after["metadata"]["resourceVersion"] = str(self.state["rv"])
        if before.get("spec") != after.get("spec"):
            after["metadata"]["generation"] = before["metadata"].get("generation", 1) + 1
            if plural in ("deployments", "statefulsets") and self.polls > 0:
                self.state["rollouts"][self.key_of(plural, ns, name)] = self.polls
                if plural == "statefulsets" and before["spec"].get("template") != after["spec"].get("template"):
                    n = int(after["status"]["updateRevision"].rsplit("-", 1)[1]) + 1
                    after["status"]["updateRevision"] = f"{name}-{n}"
            elif plural in ("deployments", "statefulsets"):
                self.state["rollouts"][self.key_of(plural, ns, name)] = 1
                self.tick(plural, ns, name, after)


PATH = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<group>[a-z0-9.-]+)/(?P<version>v[0-9a-z]+))"
    r"(?:/namespaces/(?P<ns>[a-z0-9-]+))?/(?P<plural>[a-z]+)/(?P<name>[a-z0-9.-]+)(?:/(?P<sub>scale|status))?$")


def scale_of(obj):
    return {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace"),
                         "resourceVersion": obj["metadata"]["resourceVersion"]},
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {"replicas": obj["status"].get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in obj["spec"]["selector"]["matchLabels"].items())}}


def handle(f, method, path, query, headers, raw):
    m = PATH.match(path)
    if not m:
        raise bad(404, f"no such path in the API: {path}")
    group = m["group"] or ""
    version = m["cv"] or m["version"]
    plural, ns, name, sub = m["plural"], m["ns"], m["name"], m["sub"]
    if plural not in KINDS:
        raise Reject(404, f"the server could not find the requested resource ({plural})")
    kgroup, kversion, kind, namespaced = KINDS[plural]
    if (group, version) != (kgroup, kversion):
        raise bad(404, f"{plural} is served at {kgroup or 'core'}/{kversion}, not {group or 'core'}/{version}")
    if namespaced != (ns is not None):
        raise bad(404, f"{kind} is {'namespaced' if namespaced else 'cluster-scoped'}: the path must "
                       f"{'' if namespaced else 'not '}name a namespace")
    if sub == "scale" and plural not in ("deployments", "statefulsets"):
        raise bad(404, f"{kind} has no scale subresource")
    for q in query:
        if q not in QUERY:
            raise bad(400, f"unknown query parameter {q}")
    obj = f.get(plural, ns, name)
    if method == "GET":
        return scale_of(obj) if sub == "scale" else obj
    if method != "PATCH":
        raise Reject(405, f"the server does not allow this method on the requested resource ({method})")
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
    kinds = {"application/strategic-merge-patch+json", "application/merge-patch+json",
             "application/json-patch+json"}
    if ctype not in kinds:
        raise bad(415, f"the body of a PATCH is one of {sorted(kinds)}, not {ctype!r}")
    if ctype == "application/strategic-merge-patch+json" and group not in BUILTIN_GROUPS:
        raise Reject(415, "the body of the request was in an unknown format - accepted media types include: "
                          "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
    try:
        patch = json.loads(raw)
    except ValueError:
        raise bad(400, "the patch is not JSON")
    if ctype == "application/json-patch+json":
        raise bad(400, "JSON patches are not simulated by this fake")
    if not isinstance(patch, dict):
        raise bad(400, "a merge patch is a JSON object")
    before = copy.deepcopy(obj)
    if sub == "scale":
        if set(patch) - {"spec", "metadata", "apiVersion", "kind"} or set(patch.get("spec", {})) - {"replicas"}:
            raise bad(422, f"a Scale patch may set only spec.replicas: {patch}")
        n = patch.get("spec", {}).get("replicas")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise Reject(422, f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {n!r}: '
                              "must be greater than or equal to 0")
        obj["spec"]["replicas"] = n
    else:
        if "status" in patch and sub != "status":
            patch = {k: v for k, v in patch.items() if k != "status"}
        new = strategic(obj, patch) if ctype.startswith("application/strategic") else merge(obj, patch)
        for k in ("apiVersion", "kind"):
            if new.get(k) != obj.get(k):
                raise Reject(400, f"{k} cannot be changed by a patch")
        if new["metadata"].get("name") != name:
            raise Reject(422, "metadata.name cannot be changed")
        if plural in ("deployments", "statefulsets"):
            r = new["spec"].get("replicas", 1)
            if not isinstance(r, int) or isinstance(r, bool) or r < 0:
                raise Reject(422, f"spec.replicas: Invalid value: {r!r}")
        if plural == "nodes" and not isinstance(new.get("spec", {}).get("unschedulable", False), bool):
            raise Reject(400, "spec.unschedulable must be a boolean")
        obj.clear()
        obj.update(new)
    f.changed(plural, ns, name, before, obj)
    return scale_of(obj) if sub == "scale" else obj


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def status(self, code, message, details=None, headers=()):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": REASONS.get(code, "Unknown"), "code": code}
        if details:
            body["details"] = details
        self.reply(code, body, headers)

    def any(self, method):
        f = self.fake
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path.startswith("/_fake/"):
            return self.control(method, url.path, raw)
        with f.lock:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            f.requests.append({"method": method, "path": url.path, "query": query,
                               "content_type": self.headers.get("Content-Type"), "body": body})
            if self.headers.get("Authorization") != f"Bearer {f.token}":
                return self.status(401, "Unauthorized")
            for rule in f.fails:
                if rule["times"] > 0 and rule["method"] in (method, "*") and rule["path"] in url.path:
                    rule["times"] -= 1
                    if "raw" in rule:
                        # A proxy's JSON in front of the API server, not a Status.
                        return self.reply(rule["status"], rule["raw"])
                    hdrs = [("Retry-After", rule["retry_after"])] if rule.get("retry_after") else []
                    # The API server says how long to back off twice on a 429: the header
                    # and the Status's details.retryAfterSeconds.
                    details = ({"retryAfterSeconds": int(rule["retry_after"])}
                               if hdrs and rule["status"] == 429 else None)
                    return self.status(rule["status"], rule.get("message", "injected by the test"),
                                       details, hdrs)
            try:
                out = handle(f, method, url.path, query, self.headers, raw)
            except Reject as r:
                if r.violation:
                    f.violations.append(f"{method} {url.path}: {r.message}")
                return self.status(r.code, r.message, r.details)
            for rule in f.drops:
                if rule["times"] > 0 and rule["method"] in (method, "*") and rule["path"] in url.path:
                    rule["times"] -= 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
            return self.reply(200, out)

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
            elif path == "/_fake/set" and method == "POST":
                node = f.state
                *keys, last = body["path"]
                for k in keys:
                    node = node[k]
                node[last] = body["value"]
            elif path.startswith("/_fake/health/") and method == "GET":
                code = f.state["health"].get(path.rsplit("/", 1)[1], 200)
                return self.reply(code, {"healthy": code == 200})
            elif path == "/_fake/requests":
                return self.reply(200, f.requests)
            elif path == "/_fake/violations":
                return self.reply(200, f.violations)
            elif path == "/_fake/state":
                return self.reply(200, f.state)
            else:
                return self.status(404, f"no control {method} {path}")
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
    ap.add_argument("--polls", type=int, default=2, help="reads before a rollout completes")
    ap.add_argument("--kubeconfig", help="write a kubeconfig for this server here")
    args = ap.parse_args()
    Handler.fake = Fake(args.token, args.polls)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    if args.kubeconfig:
        with open(args.kubeconfig, "w") as out:
            out.write(f"""apiVersion: v1
kind: Config
clusters:
- name: standby
  cluster: {{server: "{url}"}}
users:
- name: drctl
  user: {{token: "{args.token}"}}
contexts:
- name: standby
  context: {{cluster: standby, user: drctl, namespace: prod}}
current-context: standby
""")
    print(f"listening on {url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
