"""hack/local-cluster: up / down / status for one server instance.

The instance lives in $LOCAL_CLUSTER_DIR (default <repo>/.local): pid,
port, kubeconfig, pki/, apiserver.log, apiserver-requests.jsonl,
faults.json and, with --persist, state.json.
"""
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def instance_dir():
    return os.path.abspath(os.environ.get("LOCAL_CLUSTER_DIR") or os.path.join(REPO, ".local"))


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"localcluster" in f.read()
    except OSError:
        return True


def _pid(d):
    p = _read(os.path.join(d, "pid"))
    return int(p) if p and p.isdigit() and _alive(int(p)) else None


def _ready(d, port, timeout=1.0):
    ctx = ssl.create_default_context(cafile=os.path.join(d, "pki", "ca.crt"))
    try:
        with urllib.request.urlopen("https://127.0.0.1:%d/readyz" % port, context=ctx,
                                    timeout=timeout) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


def up(args):
    d = instance_dir()
    os.makedirs(d, exist_ok=True)
    pid = _pid(d)
    if pid:
        print("local-cluster: already running (pid %d) in %s" % (pid, d))
        return 0
    for f in ("port", "kubeconfig"):
        try:
            os.unlink(os.path.join(d, f))
        except OSError:
            pass
    log = open(os.path.join(d, "apiserver.log"), "ab")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    env.pop("LOCALCLUSTER_RESUME", None)
    proc = subprocess.Popen([sys.executable, "-m", "localcluster", "serve", "--dir", d] + args,
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True, cwd=d)
    with open(os.path.join(d, "pid"), "w") as f:
        f.write("%d\n" % proc.pid)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.stderr.write("local-cluster: server exited (%d); see %s/apiserver.log\n"
                             % (proc.returncode, d))
            sys.stderr.write((_read(os.path.join(d, "apiserver.log")) or "")[-2000:] + "\n")
            return 1
        port = _read(os.path.join(d, "port"))
        if port and _ready(d, int(port)):
            print("local-cluster: up on https://127.0.0.1:%s (pid %d)\n"
                  "  export KUBECONFIG=%s/kubeconfig" % (port, proc.pid, d))
            return 0
        time.sleep(0.1)
    sys.stderr.write("local-cluster: timed out waiting for /readyz\n")
    return 1


def down(args):
    d = instance_dir()
    pid = _pid(d)
    if not pid:
        print("local-cluster: not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not _alive(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    for f in ("pid", "port"):
        try:
            os.unlink(os.path.join(d, f))
        except OSError:
            pass
    print("local-cluster: stopped (pid %d)" % pid)
    return 0


def status(args):
    d = instance_dir()
    pid = _pid(d)
    port = _read(os.path.join(d, "port"))
    if not pid or not port:
        print("local-cluster: not running (dir %s)" % d)
        return 1
    ok = _ready(d, int(port))
    print(json.dumps({"running": True, "ready": ok, "pid": pid, "port": int(port),
                      "dir": d, "kubeconfig": os.path.join(d, "kubeconfig")}, indent=1))
    return 0 if ok else 1


def main(argv):
    if not argv or argv[0] not in ("up", "down", "status"):
        sys.stderr.write("usage: local-cluster up [options] | down | status\n")
        return 2
    return {"up": up, "down": down, "status": status}[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
