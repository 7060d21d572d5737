"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of the lab.

Requests are forwarded byte for byte (Host header and all, so SigV4 signatures still hold) on a
fresh upstream connection each; the client's connection is kept alive as long as it wants.  The
first N calls of an operation (the X-Amz-Target suffix, e.g. "SendTaskSuccess"; "*" matches any)
get the planned faults, one per call, in order:

    pass          forward normally (use it to fault the 2nd call only: ["pass", "throttle"])
    http500       HTTP 500 {"__type":"InternalFailure"} without forwarding
    http503       HTTP 503 {"__type":"ServiceUnavailable"} without forwarding
    throttle      HTTP 400 {"__type":"ThrottlingException","message":"Rate exceeded"}
    refuse        read the request head, then close the connection (FIN) without reading or answering
    reset         read the whole request, then reset the connection (RST, SO_LINGER 0)
    hang          read the request and never answer, until the client gives up (or 300 s)
    slow:S        forward, then answer after S seconds
    lost          forward (moto processes it), then close the connection without answering
    skew:S        HTTP 400 InvalidSignatureException "Signature expired", Date header now+S seconds
    expired       HTTP 400 {"__type":"ExpiredTokenException"} (the session token has expired)
    timedout      HTTP 400 {"__type":"TaskTimedOut"}: what AWS answers for a token already used
                  (moto accepts a second SendTaskFailure, and answers InvalidToken to a second success)

p.refuse_connections(n) makes the next n connections close (RST) right after accept, before any
byte is read, whatever the operation.

    p = FaultProxy(upstream=lab.endpoint).start()
    p.plan("SendTaskSuccess", ["throttle", "throttle"])
    env["AWS_ENDPOINT_URL_SFN"] = p.url
    p.requests("SendTaskSuccess")  -> [Request(time, operation, fault, status, body, conn)]
    p.stop()

`status` is moto's status for forwarded requests (None when the request never reached moto).
"""
import email.utils
import http.client
import json
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

FAULTS = ("pass", "http500", "http503", "throttle", "refuse", "reset", "hang", "slow", "lost", "skew",
	  "expired", "timedout")
IDLE_TIMEOUT = 60       # seconds a client connection may sit idle
HANG_MAX = 300


@dataclass
class Request:
	time: float
	operation: str
	fault: str
	status: object
	body: bytes
	conn: int
	target: str = ""


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
	daemon_threads = True
	allow_reuse_address = True
	request_queue_size = 64


class FaultProxy:
	def __init__(self, upstream, port=0):
		u = urlsplit(upstream)
		self.up_host, self.up_port = u.hostname, u.port or 80
		self._lock = threading.Lock()
		self._plans = {}
		self._requests = []
		self._refuse = 0
		self._conns = 0
		self._stopping = threading.Event()
		proxy = self

		class Handler(socketserver.BaseRequestHandler):
			def handle(self):
				proxy._handle(self.request)

		self._server = _Server(("127.0.0.1", port), Handler)
		self.port = self._server.server_address[1]
		self.url = "http://127.0.0.1:%d" % self.port

	def start(self):
		threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
				 daemon=True, name="fault-proxy").start()
		return self

	def stop(self):
		self._stopping.set()
		self._server.shutdown()
		self._server.server_close()

	def __enter__(self):
		return self.start()

	def __exit__(self, *a):
		self.stop()

	def plan(self, operation, faults):
		for f in faults:
			if f.split(":")[0] not in FAULTS:
				raise ValueError("unknown fault %r" % f)
		with self._lock:
			self._plans.setdefault(operation, []).extend(faults)
		return self

	def refuse_connections(self, n):
		with self._lock:
			self._refuse += n

	def requests(self, operation=None):
		with self._lock:
			return [r for r in self._requests if operation is None or r.operation == operation]

	def gaps(self, operation):
		"""Seconds between consecutive requests of this operation."""
		t = [r.time for r in self.requests(operation)]
		return [b - a for a, b in zip(t, t[1:])]

	def pending(self, operation=None):
		with self._lock:
			if operation is None:
				return sum(len(v) for v in self._plans.values())
			return len(self._plans.get(operation, []))

	# ------------------------------------------------------------------
	def _take_fault(self, op):
		with self._lock:
			for key in (op, "*"):
				q = self._plans.get(key)
				if q:
					return q.pop(0)
		return "pass"

	def _log(self, req):
		with self._lock:
			self._requests.append(req)
		return req

	def _handle(self, sock):
		with self._lock:
			self._conns += 1
			conn_id = self._conns
			refuse = self._refuse > 0
			if refuse:
				self._refuse -= 1
		if refuse:
			_rst(sock)
			self._log(Request(time.time(), "", "refuse-connection", None, b"", conn_id))
			return
		sock.settimeout(IDLE_TIMEOUT)
		rf = sock.makefile("rb")
		try:
			while not self._stopping.is_set():
				head = _read_head(rf)
				if head is None:
					return
				reqline, headers = head
				target_hdr = headers.get("x-amz-target", "")
				op = target_hdr.rpartition(".")[2]
				fault = self._take_fault(op)
				kind, _, arg = fault.partition(":")
				now = time.time()
				if kind == "refuse":
					self._log(Request(now, op, fault, None, b"", conn_id, reqline))
					sock.close()
					return
				if headers.get("expect", "").lower() == "100-continue":
					# curl waits up to a second for this before it sends a large body.
					sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
				body = _read_body(rf, headers)
				rec = self._log(Request(now, op, fault, None, body, conn_id, reqline))
				if kind == "reset":
					_rst(sock)
					return
				if kind == "hang":
					_wait_client_gone(sock, self._stopping, HANG_MAX)
					return
				if kind in ("http500", "http503", "throttle", "skew", "expired", "timedout"):
					sock.sendall(_fault_response(kind, arg, headers))
					if headers.get("connection", "").lower() == "close":
						return
					continue
				head_bytes = _raw_head(reqline, headers)
				try:
					status, raw = self._forward(head_bytes + body)
				except OSError as e:
					sock.sendall(_json_response(502, "BadGateway", "proxy: upstream failed: %s" % e))
					return
				rec.status = status
				if kind == "lost":
					sock.close()
					return
				if kind == "slow":
					if self._stopping.wait(float(arg or 0)):
						return
				sock.sendall(raw)
				if headers.get("connection", "").lower() == "close":
					return
		except (OSError, ValueError):
			return
		finally:
			try:
				rf.close()
				sock.close()
			except OSError:
				pass

	def _forward(self, data):
		up = socket.create_connection((self.up_host, self.up_port), timeout=60)
		try:
			up.sendall(data)
			resp = http.client.HTTPResponse(up)
			resp.begin()
			body = resp.read()
			out = ["HTTP/1.1 %d %s\r\n" % (resp.status, resp.reason)]
			for k, v in resp.getheaders():
				if k.lower() in ("content-length", "transfer-encoding", "connection"):
					continue
				out.append("%s: %s\r\n" % (k, v))
			out.append("Content-Length: %d\r\n\r\n" % len(body))
			return resp.status, "".join(out).encode("latin-1") + body
		finally:
			up.close()


class _Headers(dict):
	"""Lower-case lookup, original lines kept for forwarding byte for byte."""
	lines = ()


def _read_head(rf):
	line = rf.readline(65537)
	while line in (b"\r\n", b"\n"):
		line = rf.readline(65537)
	if not line:
		return None
	reqline = line
	h = _Headers()
	lines = [line]
	while True:
		line = rf.readline(65537)
		if not line:
			return None
		lines.append(line)
		if line in (b"\r\n", b"\n"):
			break
		k, _, v = line.decode("latin-1").partition(":")
		h[k.strip().lower()] = v.strip()
	h.lines = lines
	return reqline.decode("latin-1").strip(), h


def _raw_head(reqline, headers):
	return b"".join(headers.lines)


def _read_body(rf, headers):
	if "chunked" in headers.get("transfer-encoding", "").lower():
		# Kept as sent (chunk framing included) so the upstream sees the same bytes.
		out = []
		while True:
			size_line = rf.readline(65537)
			out.append(size_line)
			n = int(size_line.split(b";")[0].strip() or b"0", 16)
			if n == 0:
				while True:
					t = rf.readline(65537)
					out.append(t)
					if t in (b"\r\n", b"\n", b""):
						return b"".join(out)
			out.append(rf.read(n + 2))
	n = int(headers.get("content-length", "0") or "0")
	return rf.read(n) if n else b""


def _json_response(status, typ, message, extra_headers=()):
	body = json.dumps({"__type": typ, "message": message}).encode()
	reason = {400: "Bad Request", 500: "Internal Server Error", 502: "Bad Gateway",
		  503: "Service Unavailable"}.get(status, "Error")
	h = ["HTTP/1.1 %d %s" % (status, reason), "Content-Type: application/x-amz-json-1.0",
		 "Content-Length: %d" % len(body), "x-amzn-RequestId: fault-proxy"]
	if not any(k.lower() == "date" for k, _ in extra_headers):
		h.append("Date: " + email.utils.formatdate(usegmt=True))
	h += ["%s: %s" % kv for kv in extra_headers]
	return ("\r\n".join(h) + "\r\n\r\n").encode() + body


def _fault_response(kind, arg, headers=None):
	if kind == "http500":
		return _json_response(500, "InternalFailure", "The request processing has failed (fault proxy)")
	if kind == "http503":
		return _json_response(503, "ServiceUnavailable", "Service is unavailable (fault proxy)")
	if kind == "throttle":
		return _json_response(400, "ThrottlingException", "Rate exceeded")
	if kind == "expired":
		return _json_response(400, "ExpiredTokenException",
					  "The security token included in the request is expired")
	if kind == "timedout":
		return _json_response(400, "TaskTimedOut", "Task Timed Out (fault proxy)")
	# skew: the server's clock is S seconds away from the client's; AWS's wording.
	skew = float(arg or 0)
	server_now = time.time() + skew
	fmt = "%Y%m%dT%H%M%SZ"
	req = (headers or {}).get("x-amz-date") or time.strftime(fmt, time.gmtime())
	srv = time.strftime(fmt, time.gmtime(server_now))
	if skew >= 0:
		msg = "Signature expired: %s is now earlier than %s (%s - 5 min.)" % (
			req, time.strftime(fmt, time.gmtime(server_now - 300)), srv)
	else:
		msg = "Signature not yet current: %s is still later than %s (%s + 5 min.)" % (
			req, time.strftime(fmt, time.gmtime(server_now + 300)), srv)
	return _json_response(400, "InvalidSignatureException", msg,
				  [("Date", email.utils.formatdate(server_now, usegmt=True))])


def _rst(sock):
	try:
		sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
	except OSError:
		pass
	try:
		sock.close()
	except OSError:
		pass


def _wait_client_gone(sock, stopping, limit):
	deadline = time.monotonic() + limit
	sock.settimeout(0.2)
	while not stopping.is_set() and time.monotonic() < deadline:
		try:
			if not sock.recv(4096):
				return
		except socket.timeout:
			continue
		except OSError:
			return


class ForwardProxy:
	"""A plain forward HTTP proxy on 127.0.0.1 that records every request it is asked to relay.

	    with ForwardProxy() as fp:
	        env["http_proxy"] = env["HTTP_PROXY"] = env["ALL_PROXY"] = fp.url
	        ...
	        fp.seen -> [(method, absolute URL, {header: value})]

	Absolute-form requests (what a client sends to a proxy for http:// URLs) are forwarded to their
	host with http.client and the answer relayed; CONNECT is refused with 405 (the lab speaks plain
	http).  Only loopback targets are forwarded, so a test can never send traffic beyond it."""

	def __init__(self):
		from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
		owner = self
		self.seen = []
		self.lock = threading.Lock()

		class H(BaseHTTPRequestHandler):
			protocol_version = "HTTP/1.1"

			def log_message(self, *a):
				pass

			def _relay(self):
				n = int(self.headers.get("Content-Length") or 0)
				body = self.rfile.read(n) if n else b""
				with owner.lock:
					owner.seen.append((self.command, self.path, dict(self.headers.items())))
				u = urlsplit(self.path)
				if self.command == "CONNECT" or u.hostname not in ("127.0.0.1", "localhost"):
					self.send_response(405)
					self.send_header("Content-Length", "0")
					self.end_headers()
					return
				hdrs = {k: v for k, v in self.headers.items()
					if k.lower() not in ("proxy-connection", "proxy-authorization", "connection")}
				c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
				try:
					c.request(self.command, (u.path or "/") + ("?" + u.query if u.query else ""), body, hdrs)
					r = c.getresponse()
					data = r.read()
				finally:
					c.close()
				self.send_response(r.status)
				for k, v in r.getheaders():
					if k.lower() not in ("transfer-encoding", "connection", "content-length"):
						self.send_header(k, v)
				self.send_header("Content-Length", str(len(data)))
				self.end_headers()
				self.wfile.write(data)

			do_GET = do_POST = do_PUT = do_CONNECT = _relay

		self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
		self.httpd.daemon_threads = True
		self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]

	def start(self):
		threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
				 name="ForwardProxy").start()
		return self

	def stop(self):
		self.httpd.shutdown()
		self.httpd.server_close()

	def __enter__(self):
		return self.start()

	def __exit__(self, *a):
		self.stop()
