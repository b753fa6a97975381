"""Ray's side of `scripts/bench compare`: the same two workloads as Gantry's, on a local Ray.

Run with the Python of the Ray venv that scripts/bench makes ($GANTRY_CACHE/ray-venv). Starts
Ray in this process (a head on 127.0.0.1, no dashboard, --cpus CPUs, its files under
--temp-dir), then:

  throughput  `f.remote()` for --tasks tasks, --batch refs at a time, each batch `ray.get`;
              tasks per second over all of them
  latency     --warmup tasks, then --latency-tasks times `ray.get(f.remote())`, one at a
              time: p50 / p90 / p99 / max in milliseconds

with `@ray.remote def f(): return 1`. Everything listens on 127.0.0.1 only: it lists what
Ray's processes listen on (`ss`), and any listener beyond loopback ("non_loopback_listeners")
makes scripts/bench fail. Prints one JSON line; Ray is shut down before it exits, also on
SIGTERM / SIGINT.
"""

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import time


def descendants(root):
    """The pids of root's descendants, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def listeners(pids):
    """TCP and UDP listeners of these pids: [{"address", "process"}]."""
    try:
        text = subprocess.run(["ss", "-H", "-lntup"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        owners = re.findall(r'\("([^"]*)",pid=(\d+)', line)
        mine = [name for name, pid in owners if int(pid) in pids]
        if mine:
            out.append({"address": fields[4], "process": mine[0], "proto": fields[0]})
    return out


def loopback(address):
    host = address.rsplit(":", 1)[0].strip("[]").split("%", 1)[0]
    if host.startswith("::ffff:"):  # an IPv4-mapped IPv6 address
        host = host[len("::ffff:"):]
    return host.startswith("127.") or host in ("::1", "localhost")


def percentiles(samples_ms):
    s = sorted(samples_ms)

    def at(p):
        return round(s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))], 3)

    return {"count": len(s), "p50_ms": at(50), "p90_ms": at(90), "p99_ms": at(99), "max_ms": round(s[-1], 3)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--latency-tasks", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--temp-dir", required=True, help="Ray's session files (sockets, logs)")
    a = p.parse_args()
    if min(a.tasks, a.batch, a.latency_tasks, a.cpus) <= 0 or a.warmup < 0:
        p.error("--tasks, --batch, --latency-tasks and --cpus must be positive; --warmup not negative")

    # SIGTERM (timeout, the bench's cleanup) unwinds through `finally`, so Ray shuts down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Loopback only: on Linux Ray turns a node address of 127.0.0.1 into the host's own
    # address (and its servers then listen on every interface) unless it is told it is not a
    # cluster node, which is this switch (its name says Windows or macOS; it is the one
    # that decides on Linux too). The listeners are checked below all the same.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    # No usage reports (nothing leaves this machine).
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    out = {"mode": "ray", "ray_version": ray.__version__, "python": sys.version.split()[0],
           "params": {"tasks": a.tasks, "batch": a.batch, "latency_tasks": a.latency_tasks, "warmup": a.warmup, "num_cpus": a.cpus}}
    started = time.perf_counter()
    ray.init(num_cpus=a.cpus, include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=a.temp_dir,
             log_to_driver=False, logging_level="warning")
    try:
        out["init_s"] = round(time.perf_counter() - started, 3)

        @ray.remote
        def f():
            return 1

        # Warm-up: the workers are up and the function is exported before anything is timed.
        ray.get([f.remote() for _ in range(max(a.warmup, a.cpus))])
        listening = listeners(descendants(os.getpid()) | {os.getpid()})
        if listening is not None:
            out["listeners"] = sorted({f'{l["proto"]} {l["address"]} {l["process"]}' for l in listening})
            out["non_loopback_listeners"] = sorted({f'{l["proto"]} {l["address"]} {l["process"]}' for l in listening if not loopback(l["address"])})

        t0 = time.perf_counter()
        done = 0
        while done < a.tasks:
            n = min(a.batch, a.tasks - done)
            got = ray.get([f.remote() for _ in range(n)])
            if sum(got) != n:
                raise RuntimeError(f"a batch of {n} returned {sum(got)}")
            done += n
        seconds = time.perf_counter() - t0
        out["throughput"] = {"tasks": done, "wall_s": round(seconds, 3), "tasks_per_s": round(done / seconds, 1)}

        for _ in range(a.warmup):
            ray.get(f.remote())
        samples = []
        for _ in range(a.latency_tasks):
            t = time.perf_counter()
            ray.get(f.remote())
            samples.append((time.perf_counter() - t) * 1000)
        out["latency"] = percentiles(samples)
    finally:
        ray.shutdown()
    print(json.dumps(out, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
