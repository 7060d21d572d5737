"""Real OCI containers for the tests: podman with runc, no daemon, no registry, private state.

    pm = podman()                       the one Podman of this test run (raises Skip with the
                                        reason when podman cannot run containers here)
    pm.agent_image(binary)              the project's Dockerfile, its last (FROM scratch) stage fed
                                        with `binary` (SFN_AGENT_BINARY=prebuilt); tag, built once
                                        per binary
    pm.job_image(agent_tag, files)      an image made as the README tells users: COPY --from the
                                        agent image, busybox for the command, ENTRYPOINT
                                        ["/usr/local/bin/sfn-agent", "--"]; files = {path: text}
    pm.cmd(*args, timeout=) -> CompletedProcess (text)    pm.popen(*args) -> Popen
    pm.env                              the environment every podman call gets

Everything podman keeps lives in build/podman/ of this tree: containers.conf and storage.conf
(CONTAINERS_CONF, CONTAINERS_STORAGE_CONF), the image store (vfs: no mounts left behind) and the
run state.  The host's defaults that do not work here are overridden there: nofile at the host's
hard limit (podman asks for 1048576 and setrlimit is refused), runc (crun refuses hybrid
cgroups), cgroupfs, a file events log.  Only FROM scratch images are built (no registry).
"""
import hashlib
import os
import resource
import shutil
import subprocess
import tempfile
import threading

from lab import Skip, log

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOME = os.path.join(ROOT, "build", "podman")
BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "sleep", "grep", "wc", "ls", "touch", "id", "test", "[", "printf", "tr", "sed", "cut")

_lock = threading.Lock()
_one = None
_why_not = None


def podman():
	"""The Podman of this run, set up once; Skip (with why) where it cannot run containers."""
	global _one, _why_not
	with _lock:
		if _one is None and _why_not is None:
			try:
				_one = Podman(HOME)
			except Skip as e:
				_why_not = str(e)
		if _why_not:
			raise Skip(_why_not)
		return _one


class Podman:
	def __init__(self, home):
		for t in ("podman", "runc"):
			if not shutil.which(t) and not os.path.exists("/usr/sbin/" + t):
				raise Skip("%s is not installed (tests/setup.sh installs it as root: apt-get install "
					   "podman runc)" % t)
		if not os.access(BUSYBOX, os.X_OK):
			raise Skip("%s is missing (apt-get install busybox-static)" % BUSYBOX)
		self.home = home
		for d in ("graph", "run", "tmp"):
			os.makedirs(os.path.join(home, d), exist_ok=True)
		hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
		hard = 1048576 if hard == resource.RLIM_INFINITY else hard
		conf = os.path.join(home, "containers.conf")
		with open(conf, "w") as f:
			f.write('[containers]\ndefault_ulimits = ["nofile=%d:%d", "nproc=32768:32768"]\n'
				'[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
				'tmp_dir = "%s"\n' % (hard, hard, os.path.join(home, "tmp")))
		storage = os.path.join(home, "storage.conf")
		with open(storage, "w") as f:
			f.write('[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n'
				% (os.path.join(home, "graph"), os.path.join(home, "run")))
		self.env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			    "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
			    "CONTAINERS_CONF": conf, "CONTAINERS_STORAGE_CONF": storage,
			    "TMPDIR": os.path.join(home, "tmp")}
		self._images = {}
		self._img_lock = threading.Lock()
		p = self.cmd("info", "--format", "{{.Host.OCIRuntime.Name}}", timeout=60)
		if p.returncode != 0:
			raise Skip("podman cannot run here: %s" % (p.stderr.strip().splitlines() or ["?"])[-1])

	def cmd(self, *args, timeout=120, check=False):
		p = subprocess.run(["podman", *args], env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
				   text=True, timeout=timeout)
		if check and p.returncode != 0:
			raise AssertionError("podman %s failed (exit %d): %s" % (" ".join(args[:3]), p.returncode,
										  p.stderr.strip()[-1500:]))
		return p

	def popen(self, *args, **kw):
		return subprocess.Popen(["podman", *args], env=self.env, stdin=subprocess.DEVNULL,
					stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, **kw)

	def _build(self, tag, context, dockerfile, *extra):
		# --no-cache: buildah 1.28 reuses a cached COPY across --platform builds (and
		# --layers=false cannot build FROM an earlier stage).
		p = self.cmd("build", "--no-cache", "-q", "-t", tag, "-f", dockerfile, *extra,
			     context, timeout=300)
		if p.returncode != 0:
			raise AssertionError("podman build %s failed: %s" % (tag, p.stderr.strip()[-2000:]))
		return tag

	def agent_image(self, binary, arch="amd64"):
		"""The project's Dockerfile, last stage, with `binary` as /sfn-agent: its tag."""
		with open(binary, "rb") as f:
			digest = hashlib.sha256(f.read()).hexdigest()[:16]
		with self._img_lock:
			if digest in self._images:
				return self._images[digest]
			ctx = tempfile.mkdtemp(prefix="agent-ctx.", dir=os.path.join(self.home, "tmp"))
			try:
				os.makedirs(os.path.join(ctx, arch))
				shutil.copy2(binary, os.path.join(ctx, arch, "sfn-agent"))
				tag = self._build("localhost/sfn-agent:test-%s" % digest, ctx, os.path.join(ROOT, "Dockerfile"),
						  "--build-arg", "SFN_AGENT_BINARY=prebuilt", "--platform", "linux/" + arch)
			finally:
				shutil.rmtree(ctx, ignore_errors=True)
			self._images[digest] = tag
			log("agent image %s from %s" % (tag, binary))
			return tag

	def job_image(self, agent_tag, files=None):
		"""A job image built the README's way on top of busybox: its tag."""
		files = dict(files or {})
		ctx = tempfile.mkdtemp(prefix="job-ctx.", dir=os.path.join(self.home, "tmp"))
		try:
			os.makedirs(os.path.join(ctx, "bin"))
			shutil.copy2(BUSYBOX, os.path.join(ctx, "bin", "busybox"))
			for a in APPLETS:
				os.symlink("busybox", os.path.join(ctx, "bin", a))
			os.makedirs(os.path.join(ctx, "app"))
			for path, text in files.items():
				with open(os.path.join(ctx, "app", path), "w") as f:
					f.write(text)
				os.chmod(os.path.join(ctx, "app", path), 0o755)
			with open(os.path.join(ctx, "Dockerfile"), "w") as f:
				f.write("ARG SFN_AGENT_IMAGE=sfn-agent:latest\n"
					"FROM ${SFN_AGENT_IMAGE} AS sfn-agent\n\n"
					"FROM scratch\n"
					"COPY bin/ /bin/\n"
					"COPY app/ /app/\n"
					# The README's three lines.
					"COPY --from=sfn-agent /sfn-agent /usr/local/bin/sfn-agent\n"
					'ENTRYPOINT ["/usr/local/bin/sfn-agent", "--"]\n'
					'CMD ["/app/job.sh"]\n')
			digest = hashlib.sha256(repr((agent_tag, sorted(files.items()))).encode()).hexdigest()[:16]
			return self._build("localhost/sfn-job:test-%s" % digest, ctx, os.path.join(ctx, "Dockerfile"),
					   "--build-arg", "SFN_AGENT_IMAGE=" + agent_tag)
		finally:
			shutil.rmtree(ctx, ignore_errors=True)


def elf_machine(path):
	"""('amd64' | 'arm64' | other, static?) of an ELF file; (None, False) for anything else (a script)."""
	import struct
	with open(path, "rb") as f:
		head = f.read(64)
		if head[:4] != b"\x7fELF" or head[4] != 2:
			return None, False
		machine = struct.unpack_from("<H", head, 18)[0]
		phoff, = struct.unpack_from("<Q", head, 32)
		phentsize, phnum = struct.unpack_from("<HH", head, 54)
		f.seek(phoff)
		ph = f.read(phentsize * phnum)
	interp = any(struct.unpack_from("<I", ph, i * phentsize)[0] == 3 for i in range(phnum))
	return {62: "amd64", 183: "arm64"}.get(machine, str(machine)), not interp


def host_arch():
	return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
