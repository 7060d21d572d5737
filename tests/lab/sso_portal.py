"""A loopback stand-in for the IAM Identity Center portal (portal.sso.REGION.amazonaws.com).

    SsoPortal(lab, user="task", account_id="123456789012", role_name="LabRole", expires_in=3600)
        GET /federation/credentials?account_id=A&role_name=R with header x-amz-sso_bearer_token.
        A known bearer token (see .login()) and the right account and role get real temporary keys
        of the lab role of `user` from moto's STS, in the portal's shape (roleCredentials with
        expiration in milliseconds); an unknown token gets HTTP 401 UnauthorizedException, another
        account or role HTTP 403 ForbiddenException, as the real portal answers.
        .url (AWS_ENDPOINT_URL_SSO), .requests (list of (path, bearer token) seen), .issued
        (access key ids handed out), .secrets.
        .login(home, cache_key, expires_in=3600, start_url=..., region=..., refresh=False) writes
        what `aws sso login` caches: HOME/.aws/sso/cache/<sha1(cache_key)>.json with a fresh
        accessToken the portal accepts (expires_in < 0 writes an expired one), and returns the
        token.  refresh=True adds the client registration and a refreshToken, as CLI v2 writes
        them for sso_session profiles.
        It also answers SSO OIDC CreateToken (POST /token, grantType refresh_token; use .url as
        AWS_ENDPOINT_URL_SSO_OIDC): a known refresh token and client get a new access token (one
        hour) and a new refresh token.  .refreshes counts them.
"""
import datetime
import hashlib
import json
import os
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from servers import _Base, _assume


class SsoPortal(_Base):
	def __init__(self, lab, user="task", account_id="123456789012", role_name="LabRole", expires_in=3600):
		super().__init__()
		self.lab, self.user, self.expires_in = lab, user, expires_in
		self.account_id, self.role_name = account_id, role_name
		self.tokens = set()
		self.requests = []
		self.issued = []
		self.secrets = []
		self.url = self.base
		self._lock = threading.Lock()
		self.refresh_tokens = set()
		self.refreshes = 0
		self.client = ("lab-client-" + uuid.uuid4().hex[:8], "lab-client-secret-" + uuid.uuid4().hex)

		def do_POST(h):
			n = int(h.headers.get("Content-Length") or 0)
			h.body = h.rfile.read(n) if n else b""
			self._serve(h, "POST")
		self.httpd.RequestHandlerClass.do_POST = do_POST
		self.start()

	@staticmethod
	def cache_file(home, cache_key):
		return os.path.join(home, ".aws", "sso", "cache", hashlib.sha1(cache_key.encode()).hexdigest() + ".json")

	def login(self, home, cache_key, expires_in=3600, start_url="https://lab.awsapps.com/start",
		  region="us-east-1", refresh=False):
		token = "sso-" + uuid.uuid4().hex
		with self._lock:
			self.tokens.add(token)
		now = datetime.datetime.now(datetime.timezone.utc)
		exp = now + datetime.timedelta(seconds=expires_in)
		path = self.cache_file(home, cache_key)
		os.makedirs(os.path.dirname(path), exist_ok=True)
		cache = {"startUrl": start_url, "region": region, "accessToken": token,
			 "expiresAt": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}
		if refresh:
			rt = "refresh-" + uuid.uuid4().hex
			with self._lock:
				self.refresh_tokens.add(rt)
			cache.update({"clientId": self.client[0], "clientSecret": self.client[1], "refreshToken": rt,
				      "registrationExpiresAt": (now + datetime.timedelta(days=90)).strftime(
					      "%Y-%m-%dT%H:%M:%SZ")})
		with open(path, "w") as f:
			json.dump(cache, f)
		return token

	def _create_token(self, h):
		try:
			req = json.loads(h.body)
		except ValueError:
			req = {}
		with self._lock:
			ok = (req.get("grantType") == "refresh_token" and req.get("refreshToken") in self.refresh_tokens
			      and (req.get("clientId"), req.get("clientSecret")) == self.client)
			if not ok:
				return h._reply(400, json.dumps({"error": "invalid_grant"}))
			self.refresh_tokens.discard(req["refreshToken"])
			token, rt = "sso-" + uuid.uuid4().hex, "refresh-" + uuid.uuid4().hex
			self.tokens.add(token)
			self.refresh_tokens.add(rt)
			self.refreshes += 1
		h._reply(200, json.dumps({"accessToken": token, "expiresIn": 3600, "refreshToken": rt,
					  "tokenType": "Bearer"}))

	def _serve(self, h, method):
		if method == "POST" and h.path == "/token":
			return self._create_token(h)
		u = urlsplit(h.path)
		q = parse_qs(u.query)
		bearer = h.headers.get("x-amz-sso_bearer_token")
		with self._lock:
			self.requests.append((h.path, bearer))
			known = bearer in self.tokens
		if method != "GET" or u.path != "/federation/credentials":
			return h._reply(404, '{"message":"not found"}')
		if not known:
			return h._reply(401, json.dumps({"message": "Session token not found or invalid"}),
					ctype="application/x-amz-json-1.1")
		if q.get("account_id") != [self.account_id] or q.get("role_name") != [self.role_name]:
			return h._reply(403, json.dumps({"message": "No access"}), ctype="application/x-amz-json-1.1")
		try:
			akid, secret, token = _assume(self.lab, self.user, "sso-portal")
		except Exception as e:
			return h._reply(500, json.dumps({"message": "sts: %s" % e}))
		with self._lock:
			self.issued.append(akid)
			self.secrets += [secret, token]
		h._reply(200, json.dumps({"roleCredentials": {
			"accessKeyId": akid, "secretAccessKey": secret, "sessionToken": token,
			"expiration": int((time.time() + self.expires_in) * 1000)}}))
