"""One region's application server in the drctl lab.

Every request writes through the current PostgreSQL primary and reads it back, so a
client of the load balancer sees a database failover: the libpq connection string names
both servers with `target_session_attrs=read-write`, and only a primary accepts it.

    app.py REGION PORT DSN

GET /healthz  200 {"region", "db_port", "visit"} when a write went through, 503 otherwise.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

REGION, PORT, DSN = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
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
