#!/usr/bin/env python3
"""Load and fault runs against a `sansnet` binary over loopback.

For each runtime it starts the servers, then:

- idle:      opens N idle TCP connections to `sansnet http` (default
             10,000) and reports the server's RSS per idle connection;
- reset:     clients that reset (RST) mid-request, mid-chat-frame and
             mid-file;
- halfclose: clients that send a request and shut their write side, then
             read the answer;
- garbage:   a flood of malformed requests (each must get a 4xx and close);
- slowloris: against `--max-connections` (every slot taken by a client
             trickling a head; the header timeout must free them);

and after every step checks that a well-behaved client is still served (an
HTTP request, a chat message reaching another member, a file that arrives
intact) and that the server's RSS is flat: after the faults it may not
exceed its RSS before them (after the idle run and a warm-up) by more than
--rss-slack MiB.

Bounded in time (every socket has a timeout), loopback only. Exit code 0
when every check passed. Usage:

    cargo build --release
    python3 benches/faults.py [--bin target/release/sansnet]
        [--runtimes std,async-std,smol,tokio] [--idle 10000] [--quick]
"""

import argparse
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
FAILED = []


def check(ok, what):
    print(f"    {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        FAILED.append(what)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


class Server:
    """A sansnet server; its first stdout line is `listening on ADDR`."""

    def __init__(self, args):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True)
        line = self.p.stdout.readline()
        if not line.startswith("listening on "):
            self.p.kill()
            raise RuntimeError(f"{args}: no listening line: {line!r}")
        host, port = line.split()[-1].rsplit(":", 1)
        self.port = int(port)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def connect(port, timeout=5.0):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reset(s):
    """Close with RST: SO_LINGER on, zero seconds."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def read_all(s, limit=1 << 20):
    data = b""
    try:
        while len(data) < limit:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def http_ok(port):
    try:
        with connect(port) as s:
            s.sendall(b"GET /probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return read_all(s).startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False


def chat_ok(port):
    """Two members: a message from one reaches the other."""
    try:
        a, b = connect(port), connect(port)
        with a, b:
            a.sendall(b'{"username":"probe_a"}')
            b.sendall(b'{"username":"probe_b"}')
            time.sleep(0.05)
            b.recv(65536)
            a.sendall(b'{"content":"ping-from-a"}')
            got = b""
            deadline = time.time() + 5
            while b"ping-from-a" not in got and time.time() < deadline:
                got += b.recv(65536)
            return b"ping-from-a" in got
    except OSError:
        return False


def file_ok(binary, runtime, port, src, dest_dir):
    r = subprocess.run([binary, "--runtime", runtime, "file", "send", src, f"{HOST}:{port}",
                        "--quiet"], capture_output=True, timeout=60)
    name = os.path.basename(src)
    got = os.path.join(dest_dir, name)
    ok = r.returncode == 0 and os.path.exists(got) and filecmp(src, got)
    if os.path.exists(got):
        os.remove(got)
    return ok


def filecmp(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def idle_run(port, pid, n):
    before = rss_kib(pid)
    socks = []
    try:
        for i in range(n):
            socks.append(socket.create_connection((HOST, port), timeout=5))
            if i % 1000 == 999:
                time.sleep(0.05)  # let the server accept as we go
        time.sleep(1.0)
        served = http_ok(port)
        after = rss_kib(pid)
    finally:
        for s in socks:
            s.close()
    return before, after, served


def run_runtime(a, rt, tmp):
    print(f"== {rt}", flush=True)
    results = {}
    http = Server([a.bin, "--runtime", rt, "http", "--bind", f"{HOST}:0",
                   "--max-connections", str(a.idle + 100)])
    try:
        pid = http.p.pid
        for _ in range(200):
            http_ok(http.port)
        warm = rss_kib(pid)
        before, after, served = idle_run(http.port, pid, a.idle)
        per = (after - before) * 1024 / a.idle
        results["idle_rss_per_conn"] = per
        print(f"    {a.idle} idle connections: RSS {before} -> {after} KiB, "
              f"{per:.0f} bytes per idle connection", flush=True)
        check(served, "served a request with the idle connections open")
        time.sleep(1.0)
        # The baseline for "flat": after the idle connections closed (the
        # allocator may keep what they used; the faults must not add to it).
        for _ in range(200):
            http_ok(http.port)
        warm = rss_kib(pid)

        # Resets mid-request.
        for _ in range(a.rounds):
            s = connect(http.port)
            s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
            reset(s)
            s = connect(http.port)
            s.sendall(b"GET / HTTP/1.1\r\nHo")
            reset(s)
        check(http_ok(http.port), f"served after {2 * a.rounds} resets mid-request")

        # Half-closes: the answer still comes.
        good = 0
        for _ in range(a.rounds):
            with connect(http.port) as s:
                s.sendall(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
                s.shutdown(socket.SHUT_WR)
                good += read_all(s).startswith(b"HTTP/1.1 200 ")
        check(good == a.rounds, f"{good}/{a.rounds} half-closed clients answered")

        # A flood of malformed requests.
        bad = [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
               b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
               b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", b"\x00\x01\x02\xff" * 64,
               b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]
        rejected = 0
        for i in range(a.rounds * 10):
            with connect(http.port) as s:
                s.sendall(bad[i % len(bad)])
                rejected += read_all(s).startswith((b"HTTP/1.1 4", b"HTTP/1.1 5"))
        answers = rejected
        check(answers == a.rounds * 10, f"{answers}/{a.rounds * 10} malformed requests rejected")
        check(http_ok(http.port), "served after the malformed flood")

        end = rss_kib(pid)
        results["rss_warm_kib"], results["rss_end_kib"] = warm, end
        check(end <= warm + a.rss_slack * 1024,
              f"RSS flat: {warm} KiB before the faults, {end} KiB after")
    finally:
        http.stop()

    # Slowloris against the connection cap: every slot held by a trickler.
    cap = 50
    slow = Server([a.bin, "--runtime", rt, "http", "--bind", f"{HOST}:0",
                   "--max-connections", str(cap), "--header-timeout", "2"])
    try:
        trick = []
        for _ in range(cap):
            s = connect(slow.port)
            s.sendall(b"GET / HTTP/1.1\r\n")
            trick.append(s)
        t0 = time.time()
        for _ in range(3):
            for s in trick:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
            time.sleep(0.5)
        timed_out = 0
        for s in trick:
            s.settimeout(5)
            timed_out += read_all(s).startswith(b"HTTP/1.1 408 ")
            s.close()
        check(timed_out == cap, f"{timed_out}/{cap} slowloris clients got 408 "
              f"({time.time() - t0:.1f} s)")
        check(http_ok(slow.port), "served once the tricklers were timed out")
    finally:
        slow.stop()

    # Chat: resets mid-frame.
    chat = Server([a.bin, "--runtime", rt, "chat", "serve", "--bind", f"{HOST}:0"])
    try:
        check(chat_ok(chat.port), "chat works")
        for i in range(a.rounds):
            s = connect(chat.port)
            s.sendall(b'{"username":"r%d"}{"content":"half a fra' % i)
            time.sleep(0.002)
            reset(s)
        check(chat_ok(chat.port), f"chat works after {a.rounds} resets mid-frame")
    finally:
        chat.stop()

    # File: resets mid-file, then a good transfer.
    dest = os.path.join(tmp, f"recv-{rt}")
    os.makedirs(dest, exist_ok=True)
    recv = Server([a.bin, "--runtime", rt, "file", "recv", "--dir", dest, "--bind", f"{HOST}:0"])
    try:
        src = os.path.join(tmp, "payload.bin")
        for i in range(a.rounds // 10 + 1):
            s = connect(recv.port)
            s.sendall(b"cut%d.bin|10000000\n" % i)
            s.recv(100)  # OK 0
            s.sendall(b"x" * 100000)
            reset(s)
        time.sleep(0.3)
        finals = [n for n in os.listdir(dest) if not n.startswith(".")]
        check(not finals, f"no final file after resets mid-file ({finals})")
        check(file_ok(a.bin, rt, recv.port, src, dest), "a file arrives intact after them")
    finally:
        recv.stop()
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default="target/release/sansnet")
    p.add_argument("--runtimes", default="std,async-std,smol,tokio")
    p.add_argument("--idle", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--rss-slack", type=int, default=16, help="MiB")
    p.add_argument("--quick", action="store_true", help="1,000 idle, 20 rounds")
    a = p.parse_args()
    if a.quick:
        a.idle, a.rounds = 1000, 20
    limit = raise_nofile()
    if limit < a.idle + 1000:
        sys.exit(f"file-descriptor limit {limit} is below {a.idle + 1000}")
    tmp = tempfile.mkdtemp(prefix="sansnet-faults-")
    with open(os.path.join(tmp, "payload.bin"), "wb") as f:
        f.write(os.urandom(3 << 20))
    table = []
    try:
        for rt in a.runtimes.split(","):
            r = run_runtime(a, rt, tmp)
            table.append((rt, r))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nruntime     idle conns  RSS/idle conn  RSS before -> after faults")
    for rt, r in table:
        print(f"{rt:<11} {a.idle:>10}  {r['idle_rss_per_conn'] / 1024:>9.1f} KiB  "
              f"{r['rss_warm_kib'] / 1024:.1f} -> {r['rss_end_kib'] / 1024:.1f} MiB")
    if FAILED:
        print(f"\n{len(FAILED)} check(s) failed: {FAILED}")
        sys.exit(1)
    print("\nall checks passed")


if __name__ == "__main__":
    main()
