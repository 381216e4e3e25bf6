"""Generates the CA, serving certificate and admin client certificate.

Uses the openssl command line tool; Python's ssl module only serves.
Existing files are reused so that a restart keeps the kubeconfig valid.
"""
import os
import subprocess


def _run(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _sign(d, name, subj, ext):
    key, csr, crt = (os.path.join(d, name + s) for s in (".key", ".csr", ".crt"))
    extfile = os.path.join(d, name + ".ext")
    with open(extfile, "w") as f:
        f.write(ext)
    _run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", csr, "-subj", subj)
    _run("x509", "-req", "-in", csr, "-CA", os.path.join(d, "ca.crt"),
         "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial", "-out", crt,
         "-days", "3650", "-sha256", "-extfile", extfile)
    os.unlink(csr)
    os.unlink(extfile)


def ensure_pki(d):
    """Creates d/pki/{ca,server,admin}.{crt,key} unless already there."""
    p = os.path.join(d, "pki")
    if os.path.exists(os.path.join(p, "admin.crt")):
        return p
    os.makedirs(p, exist_ok=True)
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
         "-keyout", os.path.join(p, "ca.key"), "-out", os.path.join(p, "ca.crt"),
         "-subj", "/CN=local-cluster-ca",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _sign(p, "server", "/CN=kube-apiserver",
          "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
          "DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
          "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
    _sign(p, "admin", "/O=system:masters/CN=kubernetes-admin",
          "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
    return p


def make_client_cert(d, name, user, groups=()):
    """Signs an extra client certificate (CN=user, O=groups) for tests."""
    p = os.path.join(d, "pki")
    subj = "".join("/O=" + g for g in groups) + "/CN=" + user
    _sign(p, name, subj, "extendedKeyUsage=clientAuth\n")
    return os.path.join(p, name + ".crt"), os.path.join(p, name + ".key")
