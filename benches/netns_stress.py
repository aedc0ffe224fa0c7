#!/usr/bin/env python3
"""A long run of mixed traffic across shaped, impaired links (issue #18).

For each runtime it builds two test hosts in network namespaces (a client
host, 10.200.0.1, and a server host, 10.200.0.2) joined by the test suite's
relay (tests/integration/netns/relay.py: delay, loss and reordering as
netem defines them), with `tc tbf` limiting each host's sending rate. On
the server host: `sansnet http --root`, `sansnet chat serve` and `sansnet
file recv`. From the client host, for --minutes:

- http:  curl fetching a 64 KiB file 20 times on one keep-alive
         connection, over and over (a failed batch is counted and retried);
- chat:  a talker numbering its lines (10 a second), two members on the
         client host and one on the server host's clean path;
- file:  a fresh 8 MiB file sent again and again until it goes through
         (`--write-timeout 3 --timeout 5`; a cut transfer resumes), then
         compared byte for byte with what arrived;

and every --cut-every seconds the link is cut for --cut-for seconds. At
the end: every file identical, every chat member's log in order with no
line twice (lines lost to a cut connection are counted, not allowed to
reorder), and each server's RSS flat (its largest sample in the second
half at most --rss-slack MiB over its largest in the first half).

Needs root (network namespaces), python3, curl, iproute2. Not part of CI.
Usage:

    cargo build --release
    python3 benches/netns_stress.py [--bin target/release/sansnet]
        [--runtimes std,async-std,smol,tokio] [--minutes 30]
"""

import argparse
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELAY = os.path.join(ROOT, "tests", "integration", "netns", "relay.py")
A, B = "10.200.0.1", "10.200.0.2"


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Hosts:
    """Two namespaces, the relay between them, tbf on each side."""

    def __init__(self, tag, delay_ms, loss, reorder, rate):
        self.a, self.b = f"sn-{os.getpid()}-{tag}-a", f"sn-{os.getpid()}-{tag}-b"
        ip("netns", "add", self.a)
        ip("netns", "add", self.b)
        self.relay = subprocess.Popen(
            [sys.executable, RELAY, self.a, self.b, "1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.relay.stdout.readline().strip() == "ready"
        for ns, addr in ((self.a, A), (self.b, B)):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "sntun0")
            ip("-n", ns, "link", "set", "sntun0", "up")
            ip("-n", ns, "link", "set", "sntun0", "txqueuelen", "1000")
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "sntun0", "root",
                            "tbf", "rate", rate, "burst", "64kb", "latency", "200ms"], check=True)
        self.lock = threading.Lock()
        self.command(f"set delay_ms={delay_ms} loss={loss} reorder={reorder}")

    def command(self, line):
        with self.lock:
            self.relay.stdin.write(line + "\n")
            self.relay.stdin.flush()
            if line == "stats":
                return self.relay.stdout.readline().strip()

    def run(self, ns, args, **kw):
        return subprocess.run(["ip", "netns", "exec", ns, *args], **kw)

    def popen(self, ns, args, **kw):
        return subprocess.Popen(["ip", "netns", "exec", ns, *args], **kw)

    def close(self):
        try:
            self.command("quit")
        except OSError:
            pass
        self.relay.kill()
        self.relay.wait()
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def start_server(hosts, binary, rt, args):
    p = hosts.popen(hosts.b, [binary, "--runtime", rt, *args, "--bind", f"{B}:0"],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().strip()
    m = re.match(r"listening on (\S+)$", line)
    if not m:
        raise RuntimeError(f"{args[0]}: {line!r}")
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return p, m.group(1)


def run_runtime(a, rt, tag):
    print(f"== {rt}", flush=True)
    hosts = Hosts(tag, a.delay_ms, a.loss, a.reorder, a.rate)
    tmp = tempfile.mkdtemp(prefix=f"sansnet-stress-{rt}-")
    stats = {"http_ok": 0, "http_failed": 0, "files": 0, "file_attempts": 0, "file_mismatch": 0,
             "chat_sent": 0, "cuts": 0}
    procs = []
    try:
        www = os.path.join(tmp, "www")
        os.mkdir(www)
        page = os.urandom(64 << 10)
        with open(os.path.join(www, "p.bin"), "wb") as f:
            f.write(page)
        inbox = os.path.join(tmp, "inbox")
        os.mkdir(inbox)
        http, http_addr = start_server(hosts, a.bin, rt, ["http", "--root", www])
        chat, chat_addr = start_server(hosts, a.bin, rt, ["chat", "serve"])
        recv, recv_addr = start_server(hosts, a.bin, rt, ["file", "recv", "--dir", inbox, "--idle-timeout", "5"])
        servers = {"http": http, "chat": chat, "file": recv}
        procs += servers.values()
        rss = {k: [] for k in servers}
        deadline = time.monotonic() + a.minutes * 60
        stop = threading.Event()

        def http_loop():
            urls = [f"http://{http_addr}/p.bin"] * 20
            while not stop.is_set():
                args = ["curl", "-s", "--max-time", "20", "-w", "%{http_code}\n"]
                for u in urls:
                    args += ["-o", "/dev/null", u]
                r = hosts.run(hosts.a, args, capture_output=True, text=True)
                codes = r.stdout.split()
                good = codes.count("200")
                stats["http_ok"] += good
                stats["http_failed"] += len(urls) - good

        def file_loop():
            k = 0
            while not stop.is_set():
                k += 1
                name = f"f{k}.bin"
                src = os.path.join(tmp, name)
                data = os.urandom(8 << 20)
                with open(src, "wb") as f:
                    f.write(data)
                while not stop.is_set():
                    stats["file_attempts"] += 1
                    r = hosts.run(hosts.a, [a.bin, "--runtime", rt, "file", "send", src, recv_addr, "--quiet",
                                            "--write-timeout", "3", "--timeout", "5"],
                                  capture_output=True, text=True, timeout=600)
                    if r.returncode == 0:
                        break
                    time.sleep(0.5)
                if stop.is_set():
                    break
                dest = os.path.join(inbox, name)
                with open(dest, "rb") as f:
                    same = hashlib.blake2b(f.read()).digest() == hashlib.blake2b(data).digest()
                stats["files"] += 1
                stats["file_mismatch"] += 0 if same else 1
                os.remove(src)
                os.remove(dest)

        members = {}

        def member(ns, name):
            p = hosts.popen(ns, [a.bin, "--runtime", rt, "chat", "join", chat_addr, "--name", name],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            got = []
            members[name] = (p, got)
            threading.Thread(target=lambda: [got.append(l.rstrip("\n")) for l in p.stdout], daemon=True).start()
            return p

        talker = member(hosts.a, "talker")
        member(hosts.a, "far1")
        member(hosts.a, "far2")
        member(hosts.b, "near")
        procs += [m[0] for m in members.values()]

        def talk():
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    talker.stdin.write(f"line {n}\n")
                    talker.stdin.flush()
                    stats["chat_sent"] = n
                except OSError:
                    break
                time.sleep(0.1)

        threads = [threading.Thread(target=t, daemon=True) for t in (http_loop, file_loop, talk)]
        for t in threads:
            t.start()
        next_cut = time.monotonic() + a.cut_every
        next_sample = time.monotonic()
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_sample:
                for k, p in servers.items():
                    rss[k].append(rss_kib(p.pid))
                next_sample = now + 10
            if now >= next_cut:
                stats["cuts"] += 1
                hosts.command("set down=1")
                time.sleep(a.cut_for)
                hosts.command("set down=0")
                next_cut = time.monotonic() + a.cut_every
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        time.sleep(3)  # the last chat lines
        ok = True
        report = []
        for name, (p, got) in members.items():
            if name == "talker":
                continue
            nums = [int(m.group(1)) for m in (re.match(r"\[talker\] line (\d+)$", l) for l in got) if m]
            ordered = all(x < y for x, y in zip(nums, nums[1:]))
            ok &= ordered
            report.append(f"{name}: {len(nums)}/{stats['chat_sent']} lines, {'in order' if ordered else 'OUT OF ORDER'}")
        ok &= stats["file_mismatch"] == 0 and stats["files"] > 0 and stats["http_ok"] > 0
        for k, samples in rss.items():
            half = max(1, len(samples) // 2)
            first, second = max(samples[:half]), max(samples[half:] or samples[:half])
            flat = second <= first + a.rss_slack * 1024
            ok &= flat
            report.append(f"{k} RSS: start {samples[0] // 1024} MiB, max first half {first // 1024} MiB, "
                          f"max second half {second // 1024} MiB ({'flat' if flat else 'GREW'})")
        relay = hosts.command("stats")
        print(f"{rt}: {stats}; relay {relay}", flush=True)
        for line in report:
            print(f"  {line}", flush=True)
        print(f"{rt}: {'ok' if ok else 'FAILED'}", flush=True)
        return ok
    finally:
        for p in procs:
            p.kill()
            p.wait()
        hosts.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "sansnet"))
    p.add_argument("--runtimes", default="std,async-std,smol,tokio")
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--delay-ms", type=int, default=20)
    p.add_argument("--loss", type=float, default=0.005)
    p.add_argument("--reorder", type=float, default=0.05)
    p.add_argument("--rate", default="100mbit", help="tc tbf rate of each host")
    p.add_argument("--cut-every", type=float, default=60)
    p.add_argument("--cut-for", type=float, default=5)
    p.add_argument("--rss-slack", type=int, default=16, help="MiB")
    p.add_argument("--parallel", action="store_true", help="every runtime at once")
    a = p.parse_args()
    a.bin = os.path.abspath(a.bin)
    rts = a.runtimes.split(",")
    results = {}
    if a.parallel:
        threads = [threading.Thread(target=lambda rt=rt, i=i: results.__setitem__(rt, run_runtime(a, rt, i)))
                   for i, rt in enumerate(rts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for i, rt in enumerate(rts):
            results[rt] = run_runtime(a, rt, i)
    print("RESULT", " ".join(f"{rt}={'ok' if ok else 'FAILED'}" for rt, ok in results.items()))
    sys.exit(0 if all(results.values()) else 1)


if __name__ == "__main__":
    random.seed(1)
    main()
