"""A throwaway PKI and a TLS front for the lab, shared by the TLS and empty-image tests.

    make_ca(d, "ca") -> d/ca.pem          a CA made now with the openssl CLI (key in d/ca-key.pem)
    make_server_cert(d, "ca") -> (cert, key)   a certificate for 127.0.0.1 signed by d/ca
    front = TlsFront(upstream_port, cert, key)
        TLS on 127.0.0.1 in front of a plain-HTTP port, bytes passed through unchanged (so the Host
        header the agent signed is the one moto checks).  .url, .port, .handshakes (finished),
        .refused (errors of handshakes the client refused), .stop()
"""
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading


def openssl(*args, cwd):
    assert shutil.which("openssl"), "the openssl command is missing: apt-get install openssl"
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, "openssl %s failed: %s" % (args[0], p.stderr)


def make_ca(d, name="ca"):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + "-key.pem", "-out", name + ".pem", "-days", "2",
            "-subj", "/CN=sfn-agent test CA " + name,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=d)
    return os.path.join(d, name + ".pem")


def make_server_cert(d, ca="ca"):
    with open(os.path.join(d, "server-ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "server-key.pem", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", ca + ".pem", "-CAkey", ca + "-key.pem",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server-ext.cnf", cwd=d)
    return os.path.join(d, "server.pem"), os.path.join(d, "server-key.pem")


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _pipe(a, b):
    """Copy both ways until either side closes."""
    def one(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
    t = threading.Thread(target=one, args=(b, a), daemon=True)
    t.start()
    one(a, b)
    t.join(30)


class TlsFront:
    def __init__(self, upstream_port, cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.handshakes = 0
        self.refused = []
        lock = threading.Lock()
        owner = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(30)
                try:
                    tls = ctx.wrap_socket(self.request, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    with lock:
                        owner.refused.append(str(e))
                    return
                with lock:
                    owner.handshakes += 1
                up = socket.create_connection(("127.0.0.1", upstream_port), timeout=30)
                try:
                    _pipe(tls, up)
                finally:
                    up.close()
                    tls.close()

        self.server = _Server(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.url = "https://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
