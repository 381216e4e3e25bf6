"""Builds and runs one server instance: options, bootstrap objects,
persistence, the fault-file watcher, simulated controllers, kubeconfig."""
import argparse
import base64
import json
import os
import signal
import sys
import threading
import time

from . import rbac, tls
from .faults import Faults
from .handlers import Handlers
from .proxy import Proxy, parse_mappings
from .resources import Registry
from .rest import Api, Ctx
from .server import App, Handler, TLSServer, make_ssl_context
from .store import Store
from .strategies import crd_type

CONTROLLERS = ("deployments", "statefulsets", "jobs", "cronjobs", "gc", "namespaces",
               "pods", "serviceaccounts", "pvcs", "endpoints", "crds")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="localcluster serve")
    p.add_argument("cmd", choices=["serve"])
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=6443)
    p.add_argument("--persist", action="store_true")
    p.add_argument("--proxy", action="append", default=[])
    p.add_argument("--no-controllers", nargs="?", const="all", default="",
                   help="comma-separated controllers to disable, or all")
    p.add_argument("--rbac", action="store_true", help="accepted; RBAC always applies "
                   "to non-admin users")
    p.add_argument("--ready-delay", type=float, default=1.0)
    p.add_argument("--job-duration", type=float, default=2.0)
    p.add_argument("--cron-speedup", type=float, default=1.0)
    p.add_argument("--fail-image", default="")
    p.add_argument("--watch-history", type=int, default=5000)
    p.add_argument("--watch-timeout", type=float, default=1800.0)
    p.add_argument("--bookmark-interval", type=float, default=10.0)
    return p.parse_args(argv)


def write_kubeconfig(d, port, token):
    pki = os.path.join(d, "pki")
    b64 = lambda f: base64.b64encode(open(os.path.join(pki, f), "rb").read()).decode()
    server = "https://127.0.0.1:%d" % port
    cfg = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "local", "cluster": {
            "server": server, "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": b64("admin.crt"),
                                             "client-key-data": b64("admin.key")}},
                  {"name": "admin-token", "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin",
                                                   "namespace": "default"}},
                     {"name": "local-token", "context": {"cluster": "local",
                                                         "user": "admin-token",
                                                         "namespace": "default"}}],
        "current-context": "local"}
    tmp = os.path.join(d, "kubeconfig.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent=1)
    os.replace(tmp, os.path.join(d, "kubeconfig"))


def bootstrap(api, store):
    ctx = Ctx("system:apiserver", ["system:masters"], "kube-apiserver")
    reg = api.registry
    for o in store.snapshot()["objects"].get(
            "customresourcedefinitions.apiextensions.k8s.io", []):
        reg.add(crd_type(o))
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        if store.get("namespaces", "", ns) is None:
            api.create(reg.get("", "v1", "namespaces"), "v1", "",
                       {"metadata": {"name": ns}}, ctx)
    for key, obj in rbac.bootstrap_objects():
        rt = reg.by_key(key)
        if store.get(key, "", obj["metadata"]["name"]) is None:
            api.create(rt, "v1", "", obj, ctx)
    if store.get("services", "default", "kubernetes") is None:
        api.create(reg.get("", "v1", "services"), "v1", "default", {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver",
                                                          "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443,
                                                          "targetPort": 6443}]}}, ctx)
    if store.get("nodes", "", "local-node") is None:
        api.create(reg.get("", "v1", "nodes"), "v1", "", {
            "metadata": {"name": "local-node", "labels": {
                "kubernetes.io/hostname": "local-node", "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64"}}}, ctx)
    if store.get("storageclasses.storage.k8s.io", "", "standard") is None:
        api.create(reg.get("storage.k8s.io", "v1", "storageclasses"), "v1", "", {
            "metadata": {"name": "standard", "annotations": {
                "storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "localcluster.dev/fake", "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate", "allowVolumeExpansion": True}, ctx)


def main(argv):
    opts = parse_args(argv)
    d = opts.dir
    os.makedirs(d, exist_ok=True)
    pki = tls.ensure_pki(d)
    store = Store(history=opts.watch_history)
    state = os.path.join(d, "state.json")
    resume = os.environ.pop("LOCALCLUSTER_RESUME", "") == "1"
    if (opts.persist or resume) and os.path.exists(state):
        store.load(state)
    registry = Registry()
    from . import handlers, protobuf
    handlers.PROTO_CACHE["dir"] = d
    threading.Thread(target=protobuf.load, args=(d,), daemon=True).start()
    api = Api(store, registry, vars(opts))
    authn = rbac.Authn(store, d)
    stop = threading.Event()
    srv_box = {}

    def restart(down):
        """Simulates an API server restart: state is kept (as etcd would
        keep it), connections drop, the process re-executes on the same port."""
        def go():
            srv = srv_box["srv"]
            srv_box["restarting"] = True
            store.close_watches()
            srv.shutdown()
            srv.server_close()
            store.save(state)
            app.log.flush()
            time.sleep(down)
            os.environ["LOCALCLUSTER_RESUME"] = "1"
            args = [a for a in argv]
            args += ["--port", str(srv.server_address[1])]
            os.execv(sys.executable, [sys.executable, "-m", "localcluster"] + args)
        threading.Thread(target=go, daemon=True).start()

    faults = Faults(os.path.join(d, "faults.json"), store, restart)
    app = App(opts, store, registry, api, authn, rbac.Authorizer(store), faults,
              Handlers, Proxy(store, parse_mappings(opts.proxy)))
    bootstrap(api, store)
    disabled = set(CONTROLLERS) if opts.no_controllers == "all" else \
        {c.strip() for c in opts.no_controllers.split(",") if c.strip()}
    from . import controllers
    ctrl = controllers.Manager(api, opts, disabled)
    ctrl.start(stop)
    srv = TLSServer(("127.0.0.1", opts.port), Handler, make_ssl_context(pki), app)
    srv_box["srv"] = srv
    port = srv.server_address[1]
    write_kubeconfig(d, port, authn.admin_token)
    with open(os.path.join(d, "port"), "w") as f:
        f.write("%d\n" % port)
    threading.Thread(target=faults.watch_file, args=(stop,), daemon=True).start()
    threading.Thread(target=app.flush_log, args=(stop,), daemon=True).start()
    if opts.persist:
        def persist():
            while not stop.wait(1.0):
                if store.dirty:
                    store.save(state)
        threading.Thread(target=persist, daemon=True).start()

    def on_term(signum, frame):
        stop.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print("localcluster: serving on https://127.0.0.1:%d (dir %s)" % (port, d), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except OSError:
        if not stop.is_set():
            raise
    while srv_box.get("restarting"):
        time.sleep(1)       # the restart thread re-executes this process
    if opts.persist:
        store.save(state)
    app.log.flush()
    return 0
