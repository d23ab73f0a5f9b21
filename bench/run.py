"""`make bench`: throughput and memory of each registered source against a large sandbox.

For each source: start the sandbox at benchmark scale in its own process, sync the whole
workspace in one window in another process, and print one JSON line per source, last:
{"bench": "jira", "items": N, "items_per_min": X, "api_calls": A, "embedded_chunks": C, "peak_rss_mb": M}
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)

# source -> how to size the sandbox and what the issue asks for (printed beside the figure)
PLANS: dict[str, dict] = {
    # 130 issues per scale unit, ~3 comments each
    "jira": {"scale": 39, "target": "5,000 issues x 3 comments; >= 10,000 issues/min, < 500 MB"},
    # 400 messages, 40 threads per unit; 50 channels at scale 50
    "slack": {"scale": 50, "target": "20,000 messages, 50 channels, 2,000 threads; >= 50,000 messages/min, < 500 MB"},
    # 40 bulk pages (~40 blocks) per unit; the 3 rps limit is measured by bench/notion_rate.py
    "notion": {"scale": 25, "target": "1,000 pages x ~40 blocks; >= 5,000 pages/min at zero latency", "options": ["rps=null"]},
    # 25 meetings per unit, ~60 min / ~900 sentences each at scale 8
    # 400 worklogs per unit on at most 500 issues by at most 40 people
    "tempo": {"scale": 50, "target": "20,000 worklogs on 500 issues by 40 people; >= 50,000 worklogs/min"},
    "fireflies": {"scale": 8, "target": "200 transcripts of ~60 min; >= 2,000 transcripts/min, < 500 MB"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"sandbox at {url} did not start")


def run_source(name: str, plan: dict, extra: list[str]) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = [sys.executable, "-m", "vector_sync.cli", "sandbox", "serve", "--port", str(port), "--scale", str(plan["scale"]), "--anchor", ANCHOR.isoformat(), *plan.get("serve_args", []), *extra]
    server = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(url)
        start = ANCHOR - timedelta(days=plan.get("days", 30))
        cmd = [sys.executable, str(ROOT / "bench" / "sync_one.py"), name, "--sandbox-url", url, "--start", start.isoformat(), "--end", ANCHOR.isoformat(), "--label", plan.get("label", name)]
        for option in plan.get("options", []):
            cmd += ["--option", option]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{name} benchmark failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sources", nargs="*", help="default: every registered source")
    args = parser.parse_args()
    from vector_sync.sources import registered_sources

    names = args.sources or [n for n in registered_sources() if n in PLANS] + ["backends"]
    lines = []
    for name in names:
        if name == "backends":
            print("# backends: 50,000 chunks through the OpenAI and Pinecone simulators; requests within 1.1x of the minimum", flush=True)
            lines.append(run_backends())
            continue
        print(f"# {name}: {PLANS[name]['target']}", flush=True)
        lines.append(run_source(name, PLANS[name], []))
    for line in lines:
        print(json.dumps(line))
    return 0


def run_backends() -> dict:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "backends.py")], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"backends benchmark failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
