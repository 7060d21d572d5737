"""A loopback stand-in for the IAM Identity Center portal (portal.sso.REGION.amazonaws.com).

    SsoPortal(lab, user="task", account_id="123456789012", role_name="LabRole", expires_in=3600)
        GET /federation/credentials?account_id=A&role_name=R with header x-amz-sso_bearer_token.
        A known bearer token (see .login()) and the right account and role get real temporary keys
        of the lab role of `user` from moto's STS, in the portal's shape (roleCredentials with
        expiration in milliseconds); an unknown token gets HTTP 401 UnauthorizedException, another
        account or role HTTP 403 ForbiddenException, as the real portal answers.
        .url (AWS_ENDPOINT_URL_SSO), .requests (list of (path, bearer token) seen), .issued
        (access key ids handed out), .secrets.
        .login(home, cache_key, expires_in=3600, start_url=..., region=...) writes what `aws sso
        login` caches: HOME/.aws/sso/cache/<sha1(cache_key)>.json with a fresh accessToken the
        portal accepts (expires_in < 0 writes an expired one), and returns the token.
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
		self.start()

	def login(self, home, cache_key, expires_in=3600, start_url="https://lab.awsapps.com/start",
		  region="us-east-1"):
		token = "sso-" + uuid.uuid4().hex
		with self._lock:
			self.tokens.add(token)
		exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=expires_in)
		d = os.path.join(home, ".aws", "sso", "cache")
		os.makedirs(d, exist_ok=True)
		name = hashlib.sha1(cache_key.encode()).hexdigest() + ".json"
		with open(os.path.join(d, name), "w") as f:
			json.dump({"startUrl": start_url, "region": region, "accessToken": token,
				   "expiresAt": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}, f)
		return token

	def _serve(self, h, method):
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
