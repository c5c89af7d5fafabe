#!/usr/bin/env python3
"""Cost of `get` on a cache hit, for one or more builds of the helper, interleaved.

    python3 benches/hit_path.py RUNS LABEL=BINARY [LABEL=BINARY ...] [-- VAR=VALUE ...]

Starts a fake ECR endpoint on 127.0.0.1 (stdlib only), warms each binary's cache once, then
runs `BINARY get` RUNS times per binary, alternating between them so that load from other
processes falls on all of them alike. Reports the median wall time and the median CPU time
(user + system, from wait4) of the child. Everything runs in a temporary HOME with
AWS_EC2_METADATA_DISABLED=true; nothing leaves loopback. VAR=VALUE after `--` is added to the
environment (e.g. AWS_ECR_CONFIG=..., AWS_ECR_LOG_LEVEL=debug).
"""

import base64
import http.server
import json
import os
import statistics
import sys
import tempfile
import threading
import time

HOST = b"123456789012.dkr.ecr.us-west-2.amazonaws.com"


class Fake(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        token = base64.b64encode(b"AWS:bench-password").decode()
        body = json.dumps(
            {"authorizationData": [{"authorizationToken": token, "expiresAt": time.time() + 43200}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def run(binary, env, stdin_path, devnull):
    fd = os.open(stdin_path, os.O_RDONLY)
    started = time.perf_counter()
    pid = os.posix_spawn(
        binary,
        [binary, "get"],
        env,
        file_actions=[(os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)],
    )
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    os.close(fd)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{binary} get failed")
    return wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        extra = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    if len(args) < 2:
        sys.exit(__doc__)
    runs = int(args[0])
    builds = [a.split("=", 1) for a in args[1:]]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "home")
        os.makedirs(os.path.join(home, ".aws"))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.path.join(home, ".aws/config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, ".aws/credentials"),
            "AWS_ECR_CACHE_DIR": os.path.join(tmp, "cache"),
            "DOCKER_CONFIG": os.path.join(home, ".docker"),
            "AWS_ENDPOINT_URL_ECR": url,
            "AWS_ENDPOINT_URL_ECR_PUBLIC": url,
            "AWS_ENDPOINT_URL_STS": url,
            "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE0001",
            "AWS_SECRET_ACCESS_KEY": "fake",
        }
        env.update(kv.split("=", 1) for kv in extra)
        stdin_path = os.path.join(tmp, "in.txt")
        with open(stdin_path, "wb") as f:
            f.write(HOST)
        devnull = os.open(os.devnull, os.O_WRONLY)
        for _, binary in builds:
            run(binary, env, stdin_path, devnull)  # warm the cache
        results = {label: ([], []) for label, _ in builds}
        for _ in range(runs):
            for label, binary in builds:
                wall, cpu = run(binary, env, stdin_path, devnull)
                results[label][0].append(wall)
                results[label][1].append(cpu)
        server.shutdown()
    for label, (wall, cpu) in results.items():
        wall.sort()
        print(
            f"{label:16s} wall median {statistics.median(wall):.2f} ms"
            f" (p10 {wall[len(wall) // 10]:.2f}, p90 {wall[9 * len(wall) // 10]:.2f})"
            f" | cpu median {statistics.median(cpu):.2f} ms"
        )


if __name__ == "__main__":
    main()
