"""One region's application server in the drctl lab.

Every request writes through the current PostgreSQL primary and reads it back, so a
client of the load balancer sees a database failover: the libpq connection string names
both servers with `target_session_attrs=read-write`, and only a primary accepts it.

    app.py REGION PORT DSN

GET /healthz  200 {"region", "db_port", "visit"} when a write went through, 503 otherwise.

The application also keeps secrets encrypted with Vault's transit engine (OpenBao in the
lab), the data the key-rotation runbook rotates: `app_secrets` holds each ciphertext and
the SHA-256 of its plaintext, so a read proves the right plaintext came back. It talks to
Vault at $BAO_ADDR with the token in the file $BAO_TOKEN_FILE (never on a command line).

POST /secrets/seed?n=N   encrypts N new random secrets with the key's current version
GET  /secrets/verify[?version=V]
                         decrypts every stored ciphertext: 200 when all decrypt to their
                         plaintext (and, with V, all are at version V), 409 otherwise;
                         the body counts rows per key version, never shows a plaintext
"""

import base64
import hashlib
import json
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

REGION, PORT, DSN = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BAO_ADDR = os.environ.get("BAO_ADDR", "")
BAO_TOKEN_FILE = os.environ.get("BAO_TOKEN_FILE", "")
KEY = "app-data"


class VaultError(Exception):
    pass


def transit(op, batch):
    """One batch call of transit encrypt or decrypt; the per-item results, in order."""
    with open(BAO_TOKEN_FILE) as f:
        token = f.read().strip()
    req = urllib.request.Request(
        f"{BAO_ADDR}/v1/transit/{op}/{KEY}",
        data=json.dumps({"batch_input": batch}).encode(),
        headers={"X-Vault-Token": token, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.load(resp)["data"]["batch_results"]
    except urllib.error.HTTPError as e:
        body = json.loads(e.read() or b"{}")
        # A batch with failed items answers 400 and still lists every item's result.
        if "batch_results" in body.get("data", {}):
            return body["data"]["batch_results"]
        raise VaultError(f"Vault {op}: HTTP {e.code}: {body.get('errors')}") from e
    except OSError as e:
        raise VaultError(f"Vault {op}: {e}") from e


def version_of(ciphertext):
    # vault:v3:... -> 3
    return int(ciphertext.split(":")[1][1:])


def seed(n):
    plain = [secrets.token_hex(16) for _ in range(n)]
    out = transit("encrypt", [{"plaintext": base64.b64encode(p.encode()).decode()} for p in plain])
    rows = [(r["ciphertext"], hashlib.sha256(p.encode()).hexdigest()) for r, p in zip(out, plain)]
    with psycopg2.connect(DSN, connect_timeout=1) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO app_secrets (secret, digest) VALUES (%s, %s)", rows)
    conn.close()
    return {"inserted": n, "version": version_of(rows[0][0]) if rows else None}


def verify(version):
    with psycopg2.connect(DSN, connect_timeout=1) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, secret, digest FROM app_secrets ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    results = transit("decrypt", [{"ciphertext": c} for _, c, _ in rows]) if rows else []
    versions, failed = {}, []
    for (id_, ciphertext, digest), r in zip(rows, results):
        v = version_of(ciphertext)
        versions[str(v)] = versions.get(str(v), 0) + 1
        if "error" in r and r["error"]:
            failed.append({"id": id_, "version": v, "error": r["error"]})
        elif hashlib.sha256(base64.b64decode(r["plaintext"])).hexdigest() != digest:
            failed.append({"id": id_, "version": v, "error": "wrong plaintext"})
        elif version is not None and v != version:
            failed.append({"id": id_, "version": v, "error": f"not at version {version}"})
    body = {"rows": len(rows), "read": len(rows) - len(failed), "versions": versions, "failed": failed[:10]}
    return (200 if not failed else 409), body


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/secrets/seed":
            self.answer(404, {"error": "not found"})
            return
        n = int(urllib.parse.parse_qs(url.query).get("n", ["1"])[0])
        try:
            self.answer(200, seed(n))
        except (VaultError, psycopg2.Error) as e:
            self.answer(503, {"error": str(e).strip().splitlines()[0]})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/secrets/verify":
            v = urllib.parse.parse_qs(url.query).get("version")
            try:
                self.answer(*verify(int(v[0]) if v else None))
            except (VaultError, psycopg2.Error) as e:
                self.answer(503, {"error": str(e).strip().splitlines()[0]})
            return
        if self.path != "/healthz":
            self.answer(404, {"error": "not found"})
            return
        try:
            # A connection per request: after a failover the next request finds the new
            # primary without any state to reset.
            with psycopg2.connect(DSN, connect_timeout=1) as conn, conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO visits (region) VALUES (%s) RETURNING id, inet_server_port()",
                    (REGION,),
                )
                visit, db_port = cur.fetchone()
            conn.close()
            self.answer(200, {"region": REGION, "db_port": db_port, "visit": visit})
        except psycopg2.Error as e:
            self.answer(503, {"region": REGION, "error": str(e).strip().splitlines()[0]})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
