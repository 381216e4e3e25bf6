"""A stand-in volume provisioner for hack/kube-cluster.

A cluster without a storage back end leaves every PersistentVolumeClaim
Pending, and the scheduler never places a pod that mounts one. This process
plays the external provisioner: for each Pending claim without a volume it
creates a PersistentVolume of the requested size, pre-bound to the claim
(spec.claimRef), which upstream's PersistentVolume controller in
kube-controller-manager then binds, as it binds any pre-bound volume. A
volume whose claim is gone (phase Released) is deleted. No data is stored:
the volumes are hostPath entries that no kubelet mounts.

Usage: python3 provisioner.py SERVER CA CERT KEY
"""
import json
import ssl
import sys
import time
import urllib.error
import urllib.request


def main(server, ca, cert, key):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)

    def call(method, path, body=None):
        req = urllib.request.Request(server + path, method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, None

    while True:
        try:
            _, claims = call("GET", "/api/v1/persistentvolumeclaims")
            _, vols = call("GET", "/api/v1/persistentvolumes")
        except OSError:
            time.sleep(1)
            continue
        bound_to = {(v["spec"].get("claimRef") or {}).get("uid")
                    for v in (vols or {}).get("items", ())}
        for c in (claims or {}).get("items", ()):
            m, spec = c["metadata"], c.get("spec") or {}
            if spec.get("volumeName") or m["uid"] in bound_to or m.get("deletionTimestamp"):
                continue
            size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
            pv = {"apiVersion": "v1", "kind": "PersistentVolume",
                  "metadata": {"name": "pv-" + m["uid"],
                               "labels": {"kube-cluster/provisioned": "true"}},
                  "spec": {"capacity": {"storage": size},
                           "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                           "volumeMode": spec.get("volumeMode", "Filesystem"),
                           "persistentVolumeReclaimPolicy": "Retain",
                           "storageClassName": spec.get("storageClassName") or "",
                           "hostPath": {"path": "/nonexistent/kube-cluster/" + m["uid"]},
                           "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                        "namespace": m["namespace"], "name": m["name"],
                                        "uid": m["uid"]}}}
            call("POST", "/api/v1/persistentvolumes", pv)
        for v in (vols or {}).get("items", ()):
            if (v.get("status") or {}).get("phase") == "Released" and \
                    (v["metadata"].get("labels") or {}).get("kube-cluster/provisioned"):
                call("DELETE", "/api/v1/persistentvolumes/" + v["metadata"]["name"])
        time.sleep(0.3)


if __name__ == "__main__":
    main(*sys.argv[1:5])
