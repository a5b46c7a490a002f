#!/usr/bin/env python3
"""The diagnosis benchmark (docs/benchmarks.md): starts moto on loopback, builds the VPC of
bench_vpc.py, puts a counting proxy between netready and moto (every AWS API call, by action), and
runs `netready diagnose` RUNS times per case, printing the wall times and the calls.

  bench_diagnose.py NETREADY_BINARY [RUNS]

Cases: the task (its subnet); every subnet before deploying (--subnet with all of them); and the
task with --address for only one service, to show the call count does not follow the services.
"""

import http.client
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proxy(upstream_port, counts):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            # Route 53 is REST: `GET /2013-04-01/hostedzonesbyvpc?…` is ListHostedZonesByVPC.
            self.forward("GET")

        def do_POST(self):
            self.forward("POST")

        def forward(self, method):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            target = self.headers.get("X-Amz-Target")
            if method == "GET":
                action = self.path.split("?")[0].rstrip("/").split("/")[-1]
            else:
                action = target.split(".")[-1] if target else next(
                    (p[7:] for p in body.decode(errors="replace").split("&") if p.startswith("Action=")), "?"
                )
            counts[action] += 1
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(method, self.path, body if method == "POST" else None, headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    moto_port = free_port()
    moto = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{moto_port}"
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", moto_port, timeout=1).request("GET", "/moto-api/")
                break
            except OSError:
                time.sleep(0.2)
        # moto moves a task one status further at every DescribeTasks (to STOPPED after a few runs):
        # keep it running, as a real task is.
        conn = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=10)
        transition = {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}
        conn.request("POST", "/moto-api/state-manager/set-transition", json.dumps(transition))
        assert conn.getresponse().status == 201
        started = time.monotonic()
        out = subprocess.run([sys.executable, os.path.join(HERE, "bench_vpc.py"), url], check=True, capture_output=True, text=True)
        vpc = json.loads(out.stdout)
        built = time.monotonic() - started
        counts = Counter()
        server = proxy(moto_port, counts)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AWS_") and k not in ("ECS_CONTAINER_METADATA_URI_V4", "NETREADY_ADDRESSES")
        }
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="eu-west-3",
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.server_address[1]}",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE="/nonexistent",
            AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
            NO_PROXY="127.0.0.1",
        )
        cases = [
            ("the task (1 subnet, 5 services)", ["--task-arn", vpc["task_arn"]]),
            (
                f"before deploying, all {len(vpc['subnets'])} subnets (5 services each)",
                ["--subnet", ",".join(vpc["subnets"]), "--security-group", vpc["groups"][0]],
            ),
            ("the task, 1 service given by --address", ["--task-arn", vpc["task_arn"], "--address", "s3=52.95.155.10"]),
        ]
        print(
            f"VPC: {len(vpc['subnets'])} subnets, {len(vpc['endpoints'])} interface endpoints + 1 gateway, "
            f"{len(vpc['groups'])} security groups (built in {built:.1f} s); {runs} runs per case"
        )
        print("| case | wall median | wall max | AWS calls per run | by action |")
        print("|---|---|---|---|---|")
        for name, args in cases:
            walls = []
            per_run = None
            for _ in range(runs):
                counts.clear()
                t = time.monotonic()
                done = subprocess.run([binary, "diagnose", "--output", "json", "--timeout", "30s", *args], env=env, capture_output=True, text=True)
                walls.append(time.monotonic() - t)
                if done.returncode not in (0, 1, 3):
                    sys.exit(f"{name}: exit {done.returncode}: {done.stderr}")
                per_run = dict(counts)
            report = json.loads(done.stdout)
            assert report["aws_api"]["note"] is None, report["findings"]
            by = ", ".join(f"{k} {v}" for k, v in sorted(per_run.items()))
            print(f"| {name} | {statistics.median(walls) * 1000:.0f} ms | {max(walls) * 1000:.0f} ms | {sum(per_run.values())} | {by} |")
        server.shutdown()
    finally:
        moto.terminate()
        moto.wait(10)


if __name__ == "__main__":
    main()
