"""Small loopback HTTP servers standing in for the addresses a test must never reach.

    EcsCredsServer(lab, user="task", expires_in=3600, auth_token=None, fail_first=0)
        The ECS container-credentials endpoint (what 169.254.170.2 serves), on 127.0.0.1.
        Each fetch assumes the lab role of that user with moto's STS (real temporary keys that
        moto checks).  .url (use as AWS_CONTAINER_CREDENTIALS_FULL_URI), .env(), .fetches,
        .issued (list of access key ids handed out), .secrets (the secret keys and session tokens
        handed out, for tests that look for them where they must not be), .auth_seen (Authorization
        headers received).
        auth_token: require that Authorization header (401 otherwise).  fail_first: answer the
        first N fetches with HTTP 500.
    ImdsServer(lab, user="task", region="us-east-1", expires_in=3600)
        EC2 IMDSv2: PUT /latest/api/token, then with the token header
        /latest/meta-data/iam/security-credentials/[ROLE] and /latest/meta-data/placement/region.
        .url (AWS_EC2_METADATA_SERVICE_ENDPOINT), .env(), .token_puts, .fetches, .rejected, .issued,
        .secrets
    EcsMetadataServer(task_arn, region="us-east-1")
        Task metadata v4: GET {url}/task -> {"TaskARN", "AvailabilityZone", "Cluster", ...}.
        .url (ECS_CONTAINER_METADATA_URI_V4), .env(), .fetches

    FixedAnswerServer(body, status=200)
        The same answer to every request (an oversized one, say).  .url, .requests

All listen on 127.0.0.1 port 0, serve from daemon threads, and stop with .stop() (or `with`).
"""
import datetime
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Base:
	# Where the server listens; tests/lab/netns.py puts subclasses on the real addresses, inside a
	# network namespace of its own.
	BIND = ("127.0.0.1", 0)

	def __init__(self):
		owner = self

		class H(BaseHTTPRequestHandler):
			protocol_version = "HTTP/1.1"

			def log_message(self, *a):
				pass

			def _reply(self, status, body, ctype="application/json"):
				if not isinstance(body, bytes):
					body = body.encode()
				self.send_response(status)
				self.send_header("Content-Type", ctype)
				self.send_header("Content-Length", str(len(body)))
				self.end_headers()
				self.wfile.write(body)

			def do_GET(self):
				owner._serve(self, "GET")

			def do_PUT(self):
				n = int(self.headers.get("Content-Length") or 0)
				if n:
					self.rfile.read(n)
				owner._serve(self, "PUT")

			def do_POST(self):
				n = int(self.headers.get("Content-Length") or 0)
				if n:
					self.rfile.read(n)
				owner._serve(self, "POST")

		self.lock = threading.Lock()
		self._started = False
		self.httpd = ThreadingHTTPServer(self.BIND, H)
		self.httpd.daemon_threads = True
		self.port = self.httpd.server_address[1]
		self.base = "http://%s:%d" % (self.BIND[0], self.port)

	def start(self):
		if self._started:
			return self
		self._started = True
		threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
				 daemon=True, name=type(self).__name__).start()
		return self

	def stop(self):
		self.httpd.shutdown()
		self.httpd.server_close()

	def __enter__(self):
		return self.start()

	def __exit__(self, *a):
		self.stop()


def _expiration(seconds):
	t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
	return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _assume(lab, user, session):
	sts = lab.client("sts")
	c = sts.assume_role(RoleArn=lab.task_role_arns[user], RoleSessionName=session,
				DurationSeconds=3600)["Credentials"]
	return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]


class EcsCredsServer(_Base):
	PATH = "/v2/credentials/lab"

	def __init__(self, lab, user="task", expires_in=3600, auth_token=None, fail_first=0):
		super().__init__()
		self.lab, self.user, self.expires_in = lab, user, expires_in
		self.auth_token, self.fail_first = auth_token, fail_first
		self.fetches = 0
		self.issued = []
		self.secrets = []
		self.auth_seen = []
		self.url = self.base + self.PATH
		self.start()

	def env(self):
		e = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.url}
		if self.auth_token is not None:
			e["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = self.auth_token
		return e

	def _serve(self, h, method):
		with self.lock:
			self.fetches += 1
			n = self.fetches
			self.auth_seen.append(h.headers.get("Authorization"))
		if method != "GET" or h.path != self.PATH:
			return h._reply(404, '{"message":"not found"}')
		if self.auth_token is not None and h.headers.get("Authorization") != self.auth_token:
			return h._reply(401, '{"message":"unauthorized"}')
		if n <= self.fail_first:
			return h._reply(500, '{"message":"planned failure"}')
		try:
			akid, secret, token = _assume(self.lab, self.user, "ecs-creds-%d" % n)
		except Exception as e:
			return h._reply(500, json.dumps({"message": "sts: %s" % e}))
		with self.lock:
			self.issued.append(akid)
			self.secrets += [secret, token]
		h._reply(200, json.dumps({"RoleArn": self.lab.task_role_arns[self.user], "AccessKeyId": akid,
					  "SecretAccessKey": secret, "Token": token,
					  "Expiration": _expiration(self.expires_in)}))


class ImdsServer(_Base):
	def __init__(self, lab, user="task", region="us-east-1", expires_in=3600):
		super().__init__()
		self.lab, self.user, self.region, self.expires_in = lab, user, region, expires_in
		self.role = lab.task_role_arns[user].rsplit("/", 1)[1]
		self.tokens = set()
		self.token_puts = 0
		self.fetches = 0
		self.rejected = 0
		self.issued = []
		self.secrets = []
		self.url = self.base
		self.start()

	def env(self):
		return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": self.url + "/", "AWS_EC2_METADATA_DISABLED": "false"}

	def _serve(self, h, method):
		path = h.path
		if method == "PUT":
			if path != "/latest/api/token" or not h.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
				return h._reply(400, "bad token request", "text/plain")
			tok = uuid.uuid4().hex
			with self.lock:
				self.tokens.add(tok)
				self.token_puts += 1
			return h._reply(200, tok, "text/plain")
		with self.lock:
			ok = h.headers.get("X-aws-ec2-metadata-token") in self.tokens
			if not ok:
				self.rejected += 1
			else:
				self.fetches += 1
		if not ok:
			return h._reply(401, "", "text/plain")
		prefix = "/latest/meta-data/iam/security-credentials/"
		if path == "/latest/meta-data/placement/region":
			return h._reply(200, self.region, "text/plain")
		if path == "/latest/meta-data/placement/availability-zone":
			return h._reply(200, self.region + "a", "text/plain")
		if path == prefix:
			return h._reply(200, self.role, "text/plain")
		if path == prefix + self.role:
			try:
				akid, secret, token = _assume(self.lab, self.user, "imds")
			except Exception as e:
				return h._reply(500, json.dumps({"message": "sts: %s" % e}))
			with self.lock:
				self.issued.append(akid)
				self.secrets += [secret, token]
			now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
			return h._reply(200, json.dumps({
				"Code": "Success", "LastUpdated": now, "Type": "AWS-HMAC", "AccessKeyId": akid,
				"SecretAccessKey": secret, "Token": token, "Expiration": _expiration(self.expires_in)}))
		return h._reply(404, "", "text/plain")


class EcsMetadataServer(_Base):
	def __init__(self, task_arn, region="us-east-1"):
		super().__init__()
		self.task_arn, self.region = task_arn, region
		self.fetches = 0
		self.url = self.base + "/v4/lab-container"
		self.start()

	def env(self):
		return {"ECS_CONTAINER_METADATA_URI_V4": self.url}

	def _serve(self, h, method):
		with self.lock:
			self.fetches += 1
		cluster = self.task_arn.split("/")[1] if self.task_arn.count("/") >= 2 else "lab"
		if h.path == "/v4/lab-container/task":
			return h._reply(200, json.dumps({
				"Cluster": cluster, "TaskARN": self.task_arn, "Family": "lab-task", "Revision": "1",
				"DesiredStatus": "RUNNING", "KnownStatus": "RUNNING", "LaunchType": "FARGATE",
				"AvailabilityZone": self.region + "a", "Containers": []}))
		if h.path == "/v4/lab-container":
			return h._reply(200, json.dumps({"Name": "app", "DockerId": "lab", "Labels": {
				"com.amazonaws.ecs.task-arn": self.task_arn}}))
		return h._reply(404, "{}")


class FixedAnswerServer(_Base):
	"""Answers every GET, PUT and POST with the same status and body (bytes), e.g. an oversized
	answer.  .url, .requests"""

	def __init__(self, body, status=200, ctype="application/json"):
		super().__init__()
		self.body, self.status, self.ctype = body, status, ctype
		self.requests = 0
		self.url = self.base
		self.start()

	def _serve(self, h, method):
		with self.lock:
			self.requests += 1
		h._reply(self.status, self.body, self.ctype)
