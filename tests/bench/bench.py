#!/usr/bin/env python3
"""Benchmarks: sfn-agent against the handler it replaces (a bash trap + the AWS CLI), in the lab.

    python3 tests/bench/bench.py [--bin dist/sfn-agent] [--runs N] [--idle-seconds S] [--scale N]
                                 [--only SECTION,...] [--out-dir tests/bench] [--build-dir build/bench]

Everything runs against tests/lab/lab.py (moto in this process, SigV4 and IAM enforced), on
127.0.0.1 only.  Both sides run the same job with the same environment, the same number of times,
interleaved pair by pair; every ratio is taken within a pair, then the median of the ratios.

Sections (all by default; `make bench` runs them all, in about four minutes on two cores):
  report     the quick job (a tiny command that prints the time as it exits) under
             baseline/entrypoint.sh and under `sfn-agent --heartbeat 0`: CPU of the process tree
             (wait4 in rusage.c, the bare command subtracted), peak RSS of the tree, command exit ->
             report arrival at the lab
  heartbeat  a 2.5 s job with a heartbeat every second: baseline/entrypoint-heartbeat.sh against
             `sfn-agent --heartbeat 1`, run side by side
  single     one SendTaskHeartbeat: `aws stepfunctions send-task-heartbeat` against
             `sfn-agent send-heartbeat`
  time       /usr/bin/time -v of `sfn-agent -- true` (with a token) and of
             `aws stepfunctions send-task-success`
  relay      1 GiB written in 64 KiB writes, through `| cat > /dev/null` and through the agent
             (no token: no Step Functions involved)
  idle       the agent's CPU over a sleeping command with heartbeats every 10 s (60 s), next to the
             baseline's heartbeat loop doing the same
  start      execve of the agent -> execve of the command (median of 1000, no token), against a
             bare execve; strace -f as a cross-check when strace is installed
  scale      200 executions at once, each with its own agent

Knobs (flags win): BENCH_RUNS (20), BENCH_IDLE_SECONDS (60), BENCH_SCALE (200),
BENCH_START_RUNS (1000), BENCH_RELAY_BYTES (1073741824), BENCH_RELAY_RUNS (5), BENCH_TIME_RUNS (5).

Writes OUT_DIR/RESULTS.md and OUT_DIR/results.svg (gnuplot; installed with apt-get when missing
and running as root) only when every section ran, unless --out-dir is given.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

SECTIONS = ("report", "heartbeat", "single", "time", "relay", "idle", "start", "scale")
HELPERS = ("stamp", "writer", "launch", "rusage")
TICK = os.sysconf("SC_CLK_TCK")


def say(msg):
	print("bench: " + msg, file=sys.stderr, flush=True)


def die(msg):
	say("error: " + msg)
	sys.exit(1)


def knob(name, default, conv=int):
	v = os.environ.get(name)
	return conv(v) if v not in (None, "") else default


# ---------------------------------------------------------------- statistics and formatting

class Stat:
	"""Median and range of one series."""

	def __init__(self, values):
		self.values = [v for v in values if v is not None]
		self.n = len(self.values)
		self.med = statistics.median(self.values) if self.values else None
		self.lo = min(self.values) if self.values else None
		self.hi = max(self.values) if self.values else None

	def fmt(self, f):
		if self.med is None:
			return "n/a"
		if self.n == 1:
			return f(self.med)
		return "%s (%s–%s)" % (f(self.med), f(self.lo), f(self.hi))


def ms(s):
	return "%.3g ms" % (s * 1e3) if s < 0.1 else "%.0f ms" % (s * 1e3)


def mib(kb):
	return "%.1f MiB" % (kb / 1024.0) if kb >= 1024 else "%d KiB" % kb


def ratio(x):
	return "%.3g×" % x


def gbps(x):
	return "%.2f GB/s" % (x / 1e9)


def us(s):
	return "%.0f µs" % (s * 1e6)


# ---------------------------------------------------------------- processes

RUSAGE = None           # the rusage helper (rusage.c), set once built


def measured(argv, tag="ru"):
	"""argv wrapped in the rusage helper, and the file its figures will be in."""
	fd, path = tempfile.mkstemp(prefix="sfn-bench-%s-" % tag)
	os.close(fd)
	return [RUSAGE, path] + [str(a) for a in argv], path


def read_rusage(path):
	"""(cpu seconds, peak RSS KiB) of the tree the rusage helper ran."""
	try:
		with open(path) as f:
			_, ut, st, rss = f.read().split()
	finally:
		os.unlink(path)
	return float(ut) + float(st), int(rss)


def run_tree(argv, env, stdout=subprocess.DEVNULL, cwd=None):
	"""Runs argv and returns its status, the CPU seconds and peak RSS of its whole reaped process
	tree (wait4's rusage, taken by rusage.c: the process plus every descendant it waited for) and
	its wall time."""
	err = tempfile.TemporaryFile()
	wrapped, path = measured(argv)
	t0 = time.monotonic()
	p = subprocess.Popen(wrapped, env=env, stdout=stdout, stderr=err, cwd=cwd, start_new_session=True)
	p.wait()
	wall = time.monotonic() - t0
	end = time.time()
	cpu, rss = read_rusage(path)
	err.seek(0)
	return {"rc": p.returncode, "cpu": cpu, "rss": rss, "wall": wall,
		"stderr": err.read().decode("utf-8", "replace"), "end": end}


def child_of(pid, timeout=5.0):
	"""The first child of pid (the command under the rusage helper)."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		try:
			with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
				kids = f.read().split()
			if kids:
				return int(kids[0])
		except OSError:
			pass
		time.sleep(0.005)
	raise RuntimeError("process %d started no child within %.0f s" % (pid, timeout))


def read_stamp(path):
	with open(path) as f:
		mono, real = f.read().split()
	return int(mono) / 1e9, int(real) / 1e9


def proc_cpu(pid):
	"""(ticks of utime+stime, ns on CPU from schedstat or None, voluntary+involuntary switches)."""
	with open("/proc/%d/stat" % pid) as f:
		fields = f.read().rsplit(")", 1)[1].split()
	ticks = int(fields[11]) + int(fields[12])
	ns = None
	try:
		with open("/proc/%d/schedstat" % pid) as f:
			ns = int(f.read().split()[0])
	except (OSError, ValueError, IndexError):
		pass
	sw = 0
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
				sw += int(line.split()[1])
	return ticks, ns, sw


# ---------------------------------------------------------------- setup

def find_aws():
	"""The AWS CLI's own entry script.  A pyenv shim in front of it would add a bash and a pyenv
	process to every call, which a container image does not have: ask pyenv for the real one."""
	path = shutil.which("aws")
	if not path:
		die("the AWS CLI (`aws`) is needed for the baseline: pip install awscli")
	try:
		with open(path, "rb") as f:
			head = f.read(4096)
	except OSError:
		head = b""
	if b"pyenv" in head and shutil.which("pyenv"):
		real = subprocess.run(["pyenv", "which", "aws"], capture_output=True, text=True).stdout.strip()
		if real:
			path = real
	ver = subprocess.run([path, "--version"], capture_output=True, text=True)
	return path, (ver.stdout + ver.stderr).strip().split(" ")[0]


def need_gnuplot():
	if shutil.which("gnuplot"):
		return True
	if os.geteuid() == 0 and shutil.which("apt-get"):
		say("gnuplot is missing: installing gnuplot-nox with apt-get")
		env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
		r = subprocess.run(["apt-get", "install", "-y", "gnuplot-nox"], capture_output=True, text=True, env=env)
		if r.returncode != 0:
			subprocess.run(["apt-get", "update"], capture_output=True, env=env)
			r = subprocess.run(["apt-get", "install", "-y", "gnuplot-nox"], capture_output=True, text=True,
					   env=env)
		if shutil.which("gnuplot"):
			return True
		say("apt-get install gnuplot-nox failed: " + (r.stderr.strip().splitlines() or ["?"])[-1])
	say("no gnuplot, so no chart: install it (Debian/Ubuntu: apt-get install gnuplot-nox)")
	return False


def build_helpers(build_dir):
	os.makedirs(build_dir, exist_ok=True)
	cc = ["musl-gcc", "-static"] if shutil.which("musl-gcc") else [os.environ.get("CC", "cc")]
	out = {}
	for name in HELPERS:
		src = os.path.join(HERE, name + ".c")
		dst = os.path.join(build_dir, name)
		if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
			r = subprocess.run(cc + ["-O2", "-Wall", "-Wextra", "-Werror", "-o", dst, src],
					   capture_output=True, text=True)
			if r.returncode != 0:
				die("could not build %s: %s" % (src, r.stderr.strip()))
		out[name] = os.path.abspath(dst)
	return out


def binary_note(path):
	kind = "?"
	if shutil.which("file"):
		d = subprocess.run(["file", "-b", path], capture_output=True, text=True).stdout
		kind = "static" if "statically linked" in d or "static-pie" in d else "dynamic"
	return kind, os.path.getsize(path)


def loadavg():
	try:
		with open("/proc/loadavg") as f:
			return float(f.read().split()[0])
	except (OSError, ValueError, IndexError):
		return None


def machine():
	model = "?"
	try:
		with open("/proc/cpuinfo") as f:
			for line in f:
				if line.startswith("model name"):
					model = line.split(":", 1)[1].strip()
					break
	except OSError:
		pass
	mem = "?"
	try:
		with open("/proc/meminfo") as f:
			mem = "%.1f GiB" % (int(f.readline().split()[1]) / 1048576.0)
	except (OSError, ValueError, IndexError):
		pass
	return {"nproc": os.cpu_count(), "cpu": model, "load": loadavg(), "kernel": platform.release(), "memory": mem,
		"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
		"python": platform.python_version()}


class Arrivals:
	"""The moment each SendTask* request reaches the lab's Step Functions handler, before moto
	checks its signature or does anything else (lab.calls() times the end of moto's work)."""

	def __init__(self):
		from moto.stepfunctions.responses import StepFunctionResponse
		self.lock = threading.Lock()
		self.seen = []          # (time, operation, token, status)
		inner = StepFunctionResponse._dispatch
		me = self

		def _dispatch(resp, request, full_url, headers):
			t = time.time()
			op = (headers.get("X-Amz-Target") or "").rpartition(".")[2]
			if not op.startswith("SendTask"):
				return inner(resp, request, full_url, headers)
			try:
				token = json.loads(request.get_data()).get("taskToken", "")
			except Exception:
				token = ""
			status = 500
			try:
				r = inner(resp, request, full_url, headers)
				status = int(r[0])
				return r
			finally:
				with me.lock:
					me.seen.append((t, op, token, status))
		StepFunctionResponse._dispatch = _dispatch

	def of(self, token, ops=("SendTaskSuccess", "SendTaskFailure")):
		with self.lock:
			return [s for s in self.seen if s[2] == token and s[1] in ops]


# ---------------------------------------------------------------- the bench

class Bench:
	def __init__(self, a):
		self.a = a
		self.res = {}
		self.notes = []
		self.tmp = tempfile.mkdtemp(prefix="sfn-bench-")

	# -- common
	def env_for(self, task=None, user="task"):
		env = self.lab.task_env(user)
		env["AWS_DEFAULT_REGION"] = env["AWS_REGION"]      # ECS sets both; the CLI reads this one
		env["PATH"] = os.path.dirname(self.aws) + ":" + env["PATH"]
		if task is not None:
			env.update(task.env)
		return env

	def new_task(self, sm, command):
		"""Starts an execution and returns it with its ECS task once Step Functions waits for the token.

		The lab hands out the task as soon as RunTask is called; moto sets up the token's heartbeat
		endpoint only after RunTask has returned (TaskSubmitted), and a heartbeat before that is
		answered InvalidToken.  A real container takes seconds to start; a local process does not."""
		ex = self.lab.start_execution(sm, input={"commands": [str(c) for c in command]})
		task = self.lab.wait_for_task(ex, timeout=60)
		deadline = time.monotonic() + 60
		while "TaskSubmitted" not in [e["type"] for e in self.lab.history(ex)]:
			if time.monotonic() > deadline:
				raise RuntimeError("execution %s never reached TaskSubmitted" % ex)
			time.sleep(0.02)
		time.sleep(0.05)
		return ex, task

	def stamp_file(self, tag):
		return os.path.join(self.tmp, "stamp-%s-%d" % (tag, time.monotonic_ns()))

	def final(self, ex, task, who):
		d = self.lab.wait_execution(ex, timeout=60)
		ok = [c for c in self.lab.calls(token=task.token)
		      if c.ok and c.operation in ("SendTaskSuccess", "SendTaskFailure")]
		if d["status"] != "SUCCEEDED" or len(ok) != 1:
			raise RuntimeError("%s: execution %s, %d accepted final reports (expected SUCCEEDED, 1)"
					   % (who, d["status"], len(ok)))
		arr = [s[0] for s in self.arrivals.of(task.token) if s[3] == 200]
		self.last_lab_time = ok[0].time
		return arr[0]

	def job_run(self, sm, variant, sleep=None, hb=None):
		"""One execution whose task runs the stamp job under `variant`; returns its figures."""
		out = self.stamp_file(variant)
		cmd = [self.h["stamp"], "--out", out] + (["--sleep", str(sleep)] if sleep else [])
		ex, task = self.new_task(sm, cmd)
		env = self.env_for(task)
		if variant == "baseline":
			script = "entrypoint-heartbeat.sh" if hb else "entrypoint.sh"
			argv = [os.path.join(HERE, "baseline", script)] + task.command
			if hb:
				env["HEARTBEAT_SECONDS"] = str(hb)
		else:
			argv = [self.bin, "--heartbeat", str(hb or 0), "--"] + task.command
		r = run_tree(argv, env)
		if r["rc"] != 0:
			raise RuntimeError("%s exited %s: %s" % (variant, r["rc"], r["stderr"][-800:]))
		arrival = self.final(ex, task, variant)
		_, end = read_stamp(out)
		r["latency"] = arrival - end
		r["latency_lab"] = self.last_lab_time - end
		r["heartbeats"] = len([c for c in self.lab.calls("SendTaskHeartbeat", token=task.token) if c.ok])
		return r

	def bare(self, sleep=None):
		out = self.stamp_file("bare")
		r = run_tree([self.h["stamp"], "--out", out] + (["--sleep", str(sleep)] if sleep else []),
			     self.env_for())
		return r

	# -- sections
	def sec_report(self):
		sm = self.lab.create_state_machine(heartbeat=30, timeout=90)
		base, agent, bare = [], [], []
		for i in range(self.a.runs):
			order = ("baseline", "agent") if i % 2 == 0 else ("agent", "baseline")
			got = {v: self.job_run(sm, v) for v in order}
			b = self.bare()
			bare.append(b)
			for v, lst in (("baseline", base), ("agent", agent)):
				got[v]["net"] = got[v]["cpu"] - b["cpu"]
				lst.append(got[v])
			say("report %d/%d: baseline %s, agent %s CPU" % (i + 1, self.a.runs, ms(base[-1]["net"]),
									ms(agent[-1]["net"])))
		self.res["report"] = {"baseline": base, "agent": agent, "bare": bare}

	def sec_heartbeat(self):
		sm = self.lab.create_state_machine(heartbeat=30, timeout=90)
		base, agent = [], []
		job = 2.5
		with concurrent.futures.ThreadPoolExecutor(2) as pool:
			for i in range(self.a.runs):
				fb = pool.submit(self.job_run, sm, "baseline", job, 1)
				fa = pool.submit(self.job_run, sm, "agent", job, 1)
				b = self.bare(job)
				for f, lst in ((fb, base), (fa, agent)):
					r = f.result()
					r["net"] = r["cpu"] - b["cpu"]
					lst.append(r)
				say("heartbeat %d/%d: baseline %s (%d heartbeats), agent %s (%d heartbeats)" % (
					i + 1, self.a.runs, ms(base[-1]["net"]), base[-1]["heartbeats"],
					ms(agent[-1]["net"]), agent[-1]["heartbeats"]))
		self.res["heartbeat"] = {"baseline": base, "agent": agent, "job": job}

	def sec_single(self):
		sm = self.lab.create_state_machine(heartbeat=30, timeout=600)
		ex, task = self.new_task(sm, [self.h["stamp"]])
		env = self.env_for(task)
		base, agent = [], []
		for i in range(self.a.runs):
			for v in (("baseline", "agent") if i % 2 == 0 else ("agent", "baseline")):
				n0 = len(self.lab.calls("SendTaskHeartbeat", token=task.token))
				if v == "baseline":
					argv = [self.aws, "stepfunctions", "send-task-heartbeat", "--task-token", task.token]
				else:
					argv = [self.bin, "send-heartbeat", "--task-token", task.token]
				r = run_tree(argv, env)
				calls = self.lab.calls("SendTaskHeartbeat", token=task.token)[n0:]
				if r["rc"] != 0 or len(calls) != 1 or not calls[0].ok:
					raise RuntimeError("%s heartbeat: exit %s, %d calls: %s" % (
						v, r["rc"], len(calls), r["stderr"][-500:]))
				(base if v == "baseline" else agent).append(r)
		r = run_tree([self.bin, "send-success", "--task-token", task.token, "--task-output", "{}"], env)
		self.lab.wait_execution(ex)
		self.res["single"] = {"baseline": base, "agent": agent}
		say("single heartbeat: baseline %s, agent %s CPU" % (
			ms(Stat(x["cpu"] for x in base).med), ms(Stat(x["cpu"] for x in agent).med)))

	def sec_time(self):
		if not os.path.exists("/usr/bin/time"):
			if os.geteuid() == 0 and shutil.which("apt-get"):
				say("/usr/bin/time is missing: installing the time package with apt-get")
				subprocess.run(["apt-get", "install", "-y", "time"], capture_output=True,
					       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
		if not os.path.exists("/usr/bin/time"):
			self.notes.append("/usr/bin/time is not installed (apt-get install time): no time -v figures.")
			return
		tv = "/usr/bin/time"
		sm = self.lab.create_state_machine(heartbeat=30, timeout=90)
		out = {"baseline": [], "agent": [], "baseline_ru": [], "agent_ru": []}

		def argv_of(v, task):
			if v == "baseline":
				return [self.aws, "stepfunctions", "send-task-success", "--task-token", task.token,
					"--task-output", "{}"]
			return [self.bin, "--", "true"]
		for i in range(self.a.time_runs):
			# The same pair once more under rusage.c: time -v counts CPU in 10 ms steps.
			for v in ("baseline", "agent"):
				ex, task = self.new_task(sm, ["true"])
				r = run_tree(argv_of(v, task), self.env_for(task))
				self.final(ex, task, v)
				if r["rc"] != 0:
					raise RuntimeError("%s: exit %d: %s" % (v, r["rc"], r["stderr"][-500:]))
				out[v + "_ru"].append(r)
			for v in ("baseline", "agent"):
				ex, task = self.new_task(sm, ["true"])
				r = subprocess.run([tv, "-v"] + argv_of(v, task), env=self.env_for(task),
						   capture_output=True, text=True)
				self.final(ex, task, v)
				f = {}
				for key, name in (("user", "User time (seconds)"), ("sys", "System time (seconds)"),
						  ("rss", "Maximum resident set size (kbytes)")):
					m = re.search(re.escape(name) + r": ([0-9.]+)", r.stderr)
					f[key] = float(m.group(1)) if m else None
				if r.returncode != 0 or f["rss"] is None:
					raise RuntimeError("time -v %s: exit %d: %s" % (v, r.returncode, r.stderr[-500:]))
				f["cpu"] = f["user"] + f["sys"]
				out[v].append(f)
		self.res["time"] = out

	def sec_relay(self):
		n = self.a.relay_bytes
		env = self.lab.task_env() if self.lab else {}
		env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
		env["PATH"] = "/usr/bin:/bin"
		pipe, agent = [], []
		for i in range(self.a.relay_runs):
			r = run_tree(["sh", "-c", '"$0" "$1" | cat > /dev/null', self.h["writer"], str(n)], env)
			if r["rc"] != 0:
				raise RuntimeError("writer | cat exited %s: %s" % (r["rc"], r["stderr"][-500:]))
			pipe.append({"tput": n / r["wall"], "cpu": r["cpu"], "rss": r["rss"]})
			r = run_tree([self.bin, "--", self.h["writer"], str(n)], env)
			if r["rc"] != 0:
				raise RuntimeError("agent relay exited %s: %s" % (r["rc"], r["stderr"][-500:]))
			agent.append({"tput": n / r["wall"], "cpu": r["cpu"], "rss": r["rss"]})
			say("relay %d/%d: pipe %s, agent %s" % (i + 1, self.a.relay_runs, gbps(pipe[-1]["tput"]),
								  gbps(agent[-1]["tput"])))
		self.res["relay"] = {"pipe": pipe, "agent": agent, "bytes": n}

	def sec_idle(self):
		s = self.a.idle_seconds
		sm = self.lab.create_state_machine(heartbeat=30, timeout=s + 90)
		exa, ta = self.new_task(sm, ["sleep", str(s)])
		exb, tb = self.new_task(sm, ["sleep", str(s)])
		envb = self.env_for(tb)
		envb["HEARTBEAT_SECONDS"] = "10"
		box = {}
		base = threading.Thread(target=lambda: box.update(b=run_tree(
			[os.path.join(HERE, "baseline", "entrypoint-heartbeat.sh")] + tb.command, envb)))
		base.start()
		err = tempfile.TemporaryFile()
		t0 = time.time()
		wrapped, rpath = measured([self.bin, "--heartbeat", "10", "--"] + ta.command)
		p = subprocess.Popen(wrapped, env=self.env_for(ta), stdout=subprocess.DEVNULL, stderr=err,
				     start_new_session=True)
		agent_pid = child_of(p.pid)
		samples = []
		while True:
			try:
				samples.append((time.time(),) + proc_cpu(agent_pid))
			except (OSError, ValueError):
				break
			if p.poll() is not None:     # never reached while a zombie is readable; kept for safety
				break
			if time.time() - t0 > s - 0.5:
				break
			time.sleep(0.2)
		p.wait()
		agent_cpu, _ = read_rusage(rpath)
		base.join()
		self.final(exa, ta, "agent idle")
		self.final(exb, tb, "baseline idle")
		hbs = [c[0] for c in self.arrivals.of(ta.token, ("SendTaskHeartbeat",))]
		# Skip the start (first heartbeat, spawning the command): the window begins 1 s in.
		win = [x for x in samples if x[0] >= t0 + 1.0]
		busy_ticks = hb_ticks = busy_ns = hb_ns = busy_sw = 0
		for a, b in zip(win, win[1:]):
			near = any(a[0] - 0.5 <= h <= b[0] + 1.0 for h in hbs)
			dt, dns, dsw = b[1] - a[1], (b[2] or 0) - (a[2] or 0), b[3] - a[3]
			if near:
				hb_ticks += dt
				hb_ns += dns
			else:
				busy_ticks += dt
				busy_ns += dns
				busy_sw += dsw
		in_win = [h for h in hbs if win and win[0][0] <= h <= win[-1][0]]
		self.res["idle"] = {
			"seconds": s, "window": (win[-1][0] - win[0][0]) if len(win) > 1 else 0,
			"ticks": (win[-1][1] - win[0][1]) if len(win) > 1 else None,
			"ns": ((win[-1][2] or 0) - (win[0][2] or 0)) if len(win) > 1 else None,
			"switches": (win[-1][3] - win[0][3]) if len(win) > 1 else None,
			"busy_ticks": busy_ticks, "busy_ns": busy_ns, "busy_switches": busy_sw,
			"hb_ticks": hb_ticks, "hb_ns": hb_ns, "heartbeats": len(in_win), "heartbeats_all": len(hbs),
			"schedstat": win and win[0][2] is not None,
			"agent_cpu": agent_cpu, "baseline_cpu": box["b"]["cpu"],
			"baseline_heartbeats": len([c for c in self.lab.calls("SendTaskHeartbeat", token=tb.token)
						    if c.ok]),
		}
		say("idle: %d ticks over %.0f s, %d outside heartbeats" % (
			self.res["idle"]["ticks"] or 0, self.res["idle"]["window"], busy_ticks))

	def sec_start(self):
		n = self.a.start_runs
		env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

		def launch(cmd):
			r = subprocess.run([self.h["launch"], str(n)] + cmd, env=env, capture_output=True, text=True)
			if r.returncode != 0:
				raise RuntimeError("launch %s: %s" % (cmd[0], r.stderr.strip()))
			return [int(x) / 1e9 for x in r.stdout.split()]
		direct = launch([self.h["stamp"]])
		agent = launch([self.bin, "--", self.h["stamp"]])
		st = None
		if shutil.which("strace"):
			st = []
			for i in range(min(20, n)):
				log = os.path.join(self.tmp, "strace-%d" % i)
				subprocess.run(["strace", "-ttt", "-f", "-e", "trace=execve", "-o", log,
						self.bin, "--", self.h["stamp"]], env=env, capture_output=True)
				with open(log) as f:
					times = [float(line.split()[1]) for line in f
						 if "execve(" in line and "= 0" in line]
				if len(times) >= 2:
					st.append(times[1] - times[0])
		self.res["start"] = {"direct": direct, "agent": agent, "strace": st}
		say("start: agent %s, bare execve %s (median)" % (us(Stat(agent).med), us(Stat(direct).med)))

	def sec_scale(self):
		n = self.a.scale
		sm = self.lab.create_state_machine(heartbeat=60, timeout=900)
		t0 = time.monotonic()
		outs = [self.stamp_file("scale%d" % i) for i in range(n)]

		def start(i):
			return self.new_task(sm, [self.h["stamp"], "--sleep", "1", "--out", outs[i]])
		with concurrent.futures.ThreadPoolExecutor(8) as pool:
			started = list(pool.map(start, range(n)))
		t_started = time.monotonic() - t0
		say("scale: %d executions started and their tasks read in %.1f s" % (n, t_started))
		errdir = os.path.join(self.tmp, "scale-err")
		os.makedirs(errdir, exist_ok=True)
		procs = []
		t1 = time.monotonic()
		w1 = time.time()
		for i, (ex, task) in enumerate(started):
			with open(os.path.join(errdir, str(i)), "wb") as err:
				wrapped, rpath = measured([self.bin, "--"] + task.command, "scale")
				procs.append((rpath, subprocess.Popen(wrapped, env=self.env_for(task),
								      stdout=subprocess.DEVNULL, stderr=err,
								      start_new_session=True)))
		t_spawned = time.monotonic() - t1
		cpu, rss, rcs = 0.0, 0, []
		for rpath, p in procs:
			p.wait()
			c, r = read_rusage(rpath)
			cpu += c
			rss = max(rss, r)
			rcs.append(p.returncode)
		t_exited = time.monotonic() - t1
		final = {}
		for ex, task in started:
			final[ex] = self.lab.wait_execution(ex, timeout=300)["status"]
		tokens = {task.token for _, task in started}
		reports = [c for c in self.lab.calls() if c.token in tokens and c.ok
			   and c.operation in ("SendTaskSuccess", "SendTaskFailure")]
		per = {}
		for c in reports:
			per[c.token] = per.get(c.token, 0) + 1
		arr = [s[0] for s in self.arrivals.seen if s[2] in tokens and s[3] == 200
		       and s[1] in ("SendTaskSuccess", "SendTaskFailure")]
		bare_cpu = Stat(b["cpu"] for b in self.res.get("report", {}).get("bare", [])).med or 0.0
		self.res["scale"] = {
			"n": n, "start_seconds": t_started, "spawn_seconds": t_spawned, "exit_seconds": t_exited,
			"last_report_seconds": (max(arr) - w1) if arr else None,
			"statuses": {s: list(final.values()).count(s) for s in set(final.values())},
			"reports": len(reports), "tokens_once": sum(1 for t in tokens if per.get(t) == 1),
			"exit_ok": rcs.count(0), "cpu": cpu, "bare_cpu": bare_cpu, "rss": rss,
		}
		say("scale: %s, %d final reports, agents' CPU %.2f s" % (
			self.res["scale"]["statuses"], len(reports), cpu))

	# -- driver
	def run(self):
		self.aws, self.aws_version = find_aws()
		global RUSAGE
		self.h = build_helpers(self.a.build_dir)
		RUSAGE = self.h["rusage"]
		# A private copy: a rebuild of the binary in the middle of the bench must not mix two builds.
		self.bin_src = os.path.abspath(self.a.bin)
		self.bin = os.path.join(self.tmp, "sfn-agent")
		shutil.copy2(self.bin_src, self.bin)
		self.kind, self.size = binary_note(self.bin)
		v = subprocess.run([self.bin, "--version"], capture_output=True, text=True)
		self.version = (v.stdout or v.stderr).strip().splitlines()[0] if v.returncode == 0 else "?"
		g = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
		self.commit = g.stdout.strip() if g.returncode == 0 else "?"
		self.machine = machine()
		import lab as labmod
		self.lab = None
		want = self.a.only
		if any(s in want for s in ("report", "heartbeat", "single", "time", "idle", "scale")):
			say("starting the lab (moto, auth enforced)")
			self.lab = labmod.Lab().start()
			self.arrivals = Arrivals()
		t0 = time.monotonic()
		try:
			for s in SECTIONS:
				if s in want:
					ts = time.monotonic()
					say("== %s" % s)
					getattr(self, "sec_" + s)()
					self.res.setdefault("_seconds", {})[s] = time.monotonic() - ts
		finally:
			if self.lab:
				self.lab.stop()
			shutil.rmtree(self.tmp, ignore_errors=True)
		self.total = time.monotonic() - t0
		self.load_end = loadavg()


# ---------------------------------------------------------------- report

def pairwise(base, agent, key):
	out = []
	for b, a in zip(base, agent):
		x, y = b[key], a[key]
		if x is None or y is None or y <= 0 or x <= 0:
			continue
		out.append(x / y)
	return Stat(out)


def verdict(ok):
	return "**met**" if ok else "**missed**"


def build_tables(B):
	R = B.res
	rows = []       # (what, baseline, sfn-agent, ratio, target, verdict)
	chart = []      # (label, baseline, agent) medians for the chart
	targets = []    # (name, met, why-if-missed)
	if "report" in R:
		b, a = R["report"]["baseline"], R["report"]["agent"]
		cpu_r = pairwise(b, a, "net")
		rss_r = pairwise(b, a, "rss")
		lat_r = pairwise(b, a, "latency")
		rows.append(("CPU per final report (process tree, bare command subtracted)",
			     Stat(x["net"] for x in b).fmt(ms), Stat(x["net"] for x in a).fmt(ms),
			     cpu_r.fmt(ratio), "≥ 50× less", verdict(cpu_r.med >= 50)))
		rows.append(("Peak RSS (largest process of the tree)",
			     Stat(x["rss"] for x in b).fmt(mib), Stat(x["rss"] for x in a).fmt(mib),
			     rss_r.fmt(ratio), "≥ 10× less", verdict(rss_r.med >= 10)))
		rows.append(("Command exit → report arrival at the lab",
			     Stat(x["latency"] for x in b).fmt(ms), Stat(x["latency"] for x in a).fmt(ms),
			     lat_r.fmt(ratio), "≥ 10× less", verdict(lat_r.med >= 10)))
		targets += [("CPU per final report ≤ 1/50 of the AWS CLI's", cpu_r.med >= 50, "cpu"),
			    ("peak memory ≤ 1/10 of the AWS CLI's", rss_r.med >= 10, "rss"),
			    ("command exit → report arrival ≤ 1/10 of the handler's", lat_r.med >= 10, "latency")]
		chart.append(("CPU per report (ms)", Stat(x["net"] for x in b).med * 1e3,
			      Stat(x["net"] for x in a).med * 1e3))
		chart.append(("peak RSS (MiB)", Stat(x["rss"] for x in b).med / 1024.0,
			      Stat(x["rss"] for x in a).med / 1024.0))
		chart.append(("exit → report (ms)", Stat(x["latency"] for x in b).med * 1e3,
			      Stat(x["latency"] for x in a).med * 1e3))
	if "single" in R:
		b, a = R["single"]["baseline"], R["single"]["agent"]
		r = pairwise(b, a, "cpu")
		rows.append(("CPU of one heartbeat (`send-task-heartbeat` vs `send-heartbeat`)",
			     Stat(x["cpu"] for x in b).fmt(ms), Stat(x["cpu"] for x in a).fmt(ms),
			     r.fmt(ratio), "—", ""))
		chart.append(("heartbeat CPU (ms)", Stat(x["cpu"] for x in b).med * 1e3,
			      Stat(x["cpu"] for x in a).med * 1e3))
	if "heartbeat" in R:
		b, a = R["heartbeat"]["baseline"], R["heartbeat"]["agent"]
		r = pairwise(b, a, "net")
		def cell(runs):
			return "%s (%s)" % (Stat(x["net"] for x in runs).fmt(ms),
					    Stat(x["heartbeats"] for x in runs).fmt(lambda v: "%g" % v))
		rows.append(("%.1f s job, heartbeat every 1 s: CPU per run (heartbeats sent)" % R["heartbeat"]["job"],
			     cell(b), cell(a), r.fmt(ratio), "—", ""))
	if "relay" in R:
		p = [x["tput"] for x in R["relay"]["pipe"]]
		a = [x["tput"] for x in R["relay"]["agent"]]
		r = Stat(y / x for x, y in zip(p, a))
		# Bytes per CPU second of the whole tree (writer included), pair by pair: unlike the wall
		# clock, it does not depend on what else the machine is running.
		c = Stat(x["cpu"] / y["cpu"] for x, y in zip(R["relay"]["pipe"], R["relay"]["agent"]))
		ok = r.med >= 0.9 and c.med >= 0.9
		rows.append(("Log relay, %s in 64 KiB writes: throughput; CPU per byte (`| cat` = 100 %%)" % (
			"%.0f MiB" % (R["relay"]["bytes"] / 1048576.0)),
			Stat(p).fmt(gbps) + " (plain pipe)", Stat(a).fmt(gbps),
			"%.0f %%; %.0f %%" % (r.med * 100, c.med * 100), "≥ 90 %", verdict(ok)))
		targets.append(("log relay ≥ 90 % of a plain pipe's throughput (by wall clock and by CPU per byte)",
				ok, "relay"))
	if "idle" in R:
		d = R["idle"]
		rows.append(("Idle %d s, heartbeat every 10 s: agent ticks outside heartbeats (all ticks)" % d["seconds"],
			     "%s CPU for the whole run (%d heartbeats)" % (ms(d["baseline_cpu"]), d["baseline_heartbeats"]),
			     "%d ticks (%d ticks, %d heartbeats; %s CPU for the whole run)" % (
				     d["busy_ticks"], d["ticks"] or 0, d["heartbeats_all"], ms(d["agent_cpu"])),
			     "", "0 ticks", verdict(d["busy_ticks"] == 0)))
		targets.append(("zero busy-wait ticks while idle", d["busy_ticks"] == 0, "idle"))
	if "start" in R:
		s = R["start"]
		net = Stat(s["agent"]).med - Stat(s["direct"]).med
		rows.append(("Start overhead: execve(agent) → execve(command), median of %d" % len(s["agent"]),
			     "(bare execve: %s)" % Stat(s["direct"]).fmt(us),
			     "%s net (%s with the command's execve)" % (us(net), Stat(s["agent"]).fmt(us)),
			     "", "< 1 ms", verdict(net < 1e-3)))
		targets.append(("start overhead under 1 ms", net < 1e-3, "start"))
	if "scale" in R:
		d = R["scale"]
		ok = (d["statuses"].get("SUCCEEDED", 0) == d["n"] and d["reports"] == d["n"]
		      and d["tokens_once"] == d["n"])
		rows.append(("%d executions at once: final statuses, final reports, agents' total CPU" % d["n"], "",
			     "%s; %d reports (%d tokens exactly once); %.2f s CPU" % (
				     ", ".join("%d %s" % (v, k) for k, v in sorted(d["statuses"].items())),
				     d["reports"], d["tokens_once"], d["cpu"]),
			     "", "all final, %d reports" % d["n"], verdict(ok)))
		targets.append(("%d concurrent executions all final, exactly %d reports" % (d["n"], d["n"]), ok, "scale"))
	return rows, chart, targets


WHY = {
	"cpu": "the agent's CPU for one report is its start, reading the credentials, signing and one HTTP "
	       "request; the detailed figures say which part grew (profile `sfn-agent --heartbeat 0 -- true` "
	       "with perf).",
	"rss": "the agent's peak RSS is its static image plus libcurl's and OpenSSL's initialisation; "
	       "initialising TLS only for https endpoints would be the first step.",
	"latency": "from the command's exit the agent reaps it, reads its output, signs and sends; a "
		   "slow step shows with `--log-level debug` timestamps.",
	"relay": "the agent makes the same system calls as `cat` (one 64 KiB read and one write per chunk, "
		 "and only about one poll() per 16 chunks, checked with `strace -c`), so the gap is in user "
		 "space: every chunk is also copied into the tail kept for the output and the cause "
		 "(base/buf.c tail_append), and that buffer is slid down with memmove() each time it fills. "
		 "That copy is the whole gap: in a scratch build with it switched off, the tree relaying 1 GiB "
		 "used 264 ms of CPU against 321 ms with it and 253 ms for `cat` (medians of 5, measured once "
		 "while writing this bench). "
		 "Reading straight into a ring buffer that is the tail, and writing the relayed bytes out of "
		 "it, would leave one copy per byte, as `cat` has; a larger pipe (F_SETPIPE_SZ) would also "
		 "halve the number of reads and writes.",
	"idle": "the agent woke up outside heartbeats: a periodic timeout in the supervisor's poll() loop; "
		"it should sleep until the next heartbeat or event.",
	"start": "work done before the command's fork (credentials, TLS set-up) would have to move after it.",
	"scale": "not every execution reached its final status with exactly one report: see the figures.",
}


def markdown(B, rows, targets):
	m, R = B.machine, B.res
	L = []
	L.append("# Benchmarks: sfn-agent against a bash trap + the AWS CLI")
	L.append("")
	L.append("Produced by `make bench` (`python3 tests/bench/bench.py`), against the local lab "
		 "(tests/lab/lab.py: moto in-process, SigV4 and IAM enforced, all on 127.0.0.1). "
		 "Speed and size are measured here only, never asserted in tests.")
	L.append("")
	L.append("- Machine: %s × %s, %s RAM, Linux %s; %s." % (m["nproc"], m["cpu"], m["memory"], m["kernel"],
								m["date"]))
	load = "load average %s at the start, %s at the end" % (m["load"], B.load_end)
	if max(m["load"] or 0, B.load_end or 0) > (m["nproc"] or 1):
		L.append("- The machine was busy (%s, on %s CPUs): wall-clock figures (exit → report, relay "
			 "throughput, start overhead, scale) are noisier than on a quiet machine; CPU times much "
			 "less so (shared caches), memory not at all." % (load, m["nproc"]))
	else:
		L.append("- %s%s." % (load[0].upper(), load[1:]))
	note = "" if B.kind == "static" else " — **not the static build** (dist/sfn-agent was missing; see below)"
	built = datetime.datetime.fromtimestamp(os.path.getmtime(B.bin_src), datetime.timezone.utc)
	L.append("- sfn-agent: `%s` (%s, built %s; checkout at %s), %s, %.2f MiB%s." % (
		os.path.relpath(B.bin_src, ROOT) if B.bin_src.startswith(ROOT) else B.bin_src, B.version,
		built.strftime("%Y-%m-%d %H:%M UTC"), B.commit, B.kind, B.size / 1048576.0, note))
	L.append("- Baseline: [baseline/entrypoint.sh](baseline/entrypoint.sh) and "
		 "[baseline/entrypoint-heartbeat.sh](baseline/entrypoint-heartbeat.sh) with %s "
		 "(Python %s), which honours `AWS_ENDPOINT_URL_SFN`." % (B.aws_version, B.machine["python"]))
	L.append("- Runs: %d per-run pairs (`BENCH_RUNS`), interleaved; figures are median (min–max); every "
		 "ratio is taken pair by pair in the same run, then its median. Whole bench: %.0f s." % (
			 B.a.runs, B.total))
	L.append("")
	L.append("| measure | bash trap + AWS CLI | sfn-agent | ratio | target | |")
	L.append("|---|---|---|---|---|---|")
	for r in rows:
		L.append("| " + " | ".join(x.replace("|", "\\|") for x in r) + " |")
	L.append("")
	L.append("![sfn-agent against the bash trap + AWS CLI](results.svg)")
	L.append("")
	missed = [t for t in targets if not t[1]]
	L.append("## Targets")
	L.append("")
	for name, ok, key in targets:
		L.append("- %s: %s" % (name, "met" if ok else "**missed** — " + WHY[key]))
	if not targets:
		L.append("- (no target measured in this run)")
	L.append("")
	L.append("## How each figure is taken")
	L.append("")
	L.append("- **CPU** is user + system time of the whole process tree from `wait4(2)` (the process and "
		 "every descendant it reaped: bash, the AWS CLI, the job; or the agent and the job), minus a run "
		 "of the bare job in the same pair. **Peak RSS** is wait4's `ru_maxrss`, the largest single "
		 "process of the tree: for the baseline that is the AWS CLI's Python, for sfn-agent the agent. "
		 "Both are taken by tests/bench/rusage.c, a small static program that forks the command: a "
		 "process forked from the Python bench would carry Python's peak RSS across its execve.")
	L.append("- **Command exit → report arrival**: the job (tests/bench/stamp.c) writes `CLOCK_REALTIME` as "
		 "its last act; the lab notes the moment the SendTaskSuccess request reaches moto's Step "
		 "Functions handler (before moto checks the signature). Both ends use the same clock.")
	L.append("- The quick job runs under `sfn-agent --heartbeat 0` so that both sides make exactly one call "
		 "(the final report); `sfn-agent -- true` with its default first heartbeat is in the "
		 "`time -v` figures below.")
	L.append("- **Log relay**: tests/bench/writer.c writes the bytes in 64 KiB writes; once through "
		 "`writer | cat > /dev/null`, once as `sfn-agent -- writer` with the agent's stdout on "
		 "/dev/null and no token (no Step Functions); throughput = bytes / wall time. CPU per byte "
		 "compares the CPU of the two whole trees (writer included) pair by pair: the wall clock "
		 "depends on what else the machine runs, the CPU much less. The target counts as met only "
		 "when both are at 90 % or more. The agent gives the command's stdout a 256 KiB pipe "
		 "(F_SETPIPE_SZ) where `| cat` has the default 64 KiB, so each wake-up moves more and "
		 "the agent can beat the plain pipe.")
	L.append("- **Idle**: `sfn-agent --heartbeat 10 -- sleep %d` with a token; /proc/PID/stat (utime+stime, "
		 "%d ticks a second) and /proc/PID/schedstat sampled every 0.2 s from 1 s after the start; "
		 "CPU in the sampling intervals around a heartbeat's arrival counts as the heartbeat's, the "
		 "rest as busy waiting. The baseline's heartbeat loop ran at the same time for comparison." % (
			 R.get("idle", {}).get("seconds", B.a.idle_seconds), TICK))
	L.append("- **Start overhead**: tests/bench/launch.c forks, reads `CLOCK_MONOTONIC` in the child and "
		 "execs `sfn-agent -- stamp` (no token, so no network); stamp prints `CLOCK_MONOTONIC` first "
		 "thing. The same with a bare `stamp` gives the cost of one execve, which is subtracted.")
	L.append("")
	L.append("## Detailed figures")
	L.append("")
	if "time" in R or "idle" in R or "report" in R:
		L.append("### The figures the core-loop and supervisor issues asked for")
		L.append("")
	if "time" in R:
		t = R["time"]
		L.append("CPU and peak RSS of `sfn-agent -- true` with a token against the lab (default "
			 "heartbeat: one SendTaskHeartbeat before the command, then SendTaskSuccess) next to one "
			 "`aws stepfunctions send-task-success`, %d runs each, each with its own execution; "
			 "`/usr/bin/time -v` (CPU in 10 ms steps) and wait4 through rusage.c (µs):" % len(t["agent"]))
		L.append("")
		L.append("| command | CPU, time -v | peak RSS, time -v | CPU, wait4 | peak RSS, wait4 |")
		L.append("|---|---|---|---|---|")
		for v, label in (("baseline", "`aws stepfunctions send-task-success --task-token T --task-output {}`"),
				 ("agent", "`sfn-agent -- true`")):
			L.append("| %s | %s | %s | %s | %s |" % (
				label, Stat(x["cpu"] for x in t[v]).fmt(lambda x: "%.2f s" % x),
				Stat(x["rss"] for x in t[v]).fmt(mib), Stat(x["cpu"] for x in t[v + "_ru"]).fmt(ms),
				Stat(x["rss"] for x in t[v + "_ru"]).fmt(mib)))
		L.append("")
	if "idle" in R:
		d = R["idle"]
		L.append("Agent CPU while idle %d s (heartbeat every 10 s): %d ticks (%s) between 1 s after the "
			 "start and the command's end, %d of them outside heartbeats." % (
				 d["seconds"], d["ticks"] or 0,
				 ("%.2f ms by schedstat" % (d["ns"] / 1e6)) if d["schedstat"] else "no schedstat",
				 d["busy_ticks"]))
		L.append("")
	if "report" in R:
		b, a = R["report"]["baseline"], R["report"]["agent"]
		L.append("Command exit → report arrival, median of %d: sfn-agent %s (baseline %s). Timed instead "
			 "by `lab.calls()`, which notes each call once moto has answered it: sfn-agent %s, "
			 "baseline %s." % (
				 len(a), ms(Stat(x["latency"] for x in a).med), ms(Stat(x["latency"] for x in b).med),
				 ms(Stat(x["latency_lab"] for x in a).med), ms(Stat(x["latency_lab"] for x in b).med)))
		L.append("")
		L.append("### The rest")
		L.append("")
	if "report" in R:
		b, a, bare = R["report"]["baseline"], R["report"]["agent"], R["report"]["bare"]
		L.append("Quick job, %d pairs: CPU before subtracting the bare job: baseline %s, sfn-agent %s; "
			 "the bare job itself %s CPU, %s peak RSS. Wall time of the whole run: baseline %s, "
			 "sfn-agent %s." % (len(a), Stat(x["cpu"] for x in b).fmt(ms), Stat(x["cpu"] for x in a).fmt(ms),
					    Stat(x["cpu"] for x in bare).fmt(ms), Stat(x["rss"] for x in bare).fmt(mib),
					    Stat(x["wall"] for x in b).fmt(ms), Stat(x["wall"] for x in a).fmt(ms)))
		L.append("")
	if "relay" in R:
		d = R["relay"]
		L.append("Log relay, %.0f MiB, %d runs: CPU of the whole tree (writer included) %s through "
			 "`sh -c 'writer | cat > /dev/null'`, %s through the agent; the agent's peak RSS %s." % (
				 d["bytes"] / 1048576.0, len(d["pipe"]), Stat(x["cpu"] for x in d["pipe"]).fmt(ms),
				 Stat(x["cpu"] for x in d["agent"]).fmt(ms), Stat(x["rss"] for x in d["agent"]).fmt(mib)))
		L.append("")
	if "idle" in R:
		d = R["idle"]
		L.append("Idle: over %.1f s sampled, the agent used %s ticks (%s) and %s context switches; "
			 "heartbeats in the window: %d (%d in all, the first before the command). Outside the "
			 "heartbeats: %d ticks, %s, %d context switches. The whole agent run (start, %d heartbeats, "
			 "report) took %s CPU; the baseline's heartbeat loop and report took %s." % (
				 d["window"], d["ticks"], ("%.2f ms on CPU by schedstat" % (d["ns"] / 1e6))
				 if d["schedstat"] else "no schedstat", d["switches"], d["heartbeats"],
				 d["heartbeats_all"], d["busy_ticks"],
				 ("%.3f ms on CPU" % (d["busy_ns"] / 1e6)) if d["schedstat"] else "",
				 d["busy_switches"], d["heartbeats_all"], ms(d["agent_cpu"]), ms(d["baseline_cpu"])))
		L.append("")
	if "start" in R:
		s = R["start"]
		L.append("Start: execve(agent) → command running %s; bare execve → running %s (%d runs each)." % (
			Stat(s["agent"]).fmt(us), Stat(s["direct"]).fmt(us), len(s["agent"])))
		if s["strace"]:
			L.append("Cross-check with `strace -ttt -f -e trace=execve` (ptrace slows every syscall, so "
				 "this is an upper bound): %s between the two execve calls, %d runs." % (
					 Stat(s["strace"]).fmt(us), len(s["strace"])))
		L.append("")
	if "heartbeat" in R:
		L.append("Heartbeat job: the baseline's loop calls the CLI after each `sleep 1`, and each call "
			 "takes most of a second, so it manages fewer heartbeats in the same time; the agent sends "
			 "its first heartbeat before the command starts, then one a second.")
		L.append("")
	if "scale" in R:
		d = R["scale"]
		L.append("Scale: moto (one Python process, also running every execution's interpreter) took "
			 "%.1f s to start %d executions and hand out their ECS tasks; the %d agents were spawned "
			 "in %.2f s, all had exited %.1f s later (the job sleeps 1 s), and the last final report "
			 "arrived %.1f s after the first spawn. Agents' exit statuses: %d of %d zero. Total CPU of "
			 "the agents and their jobs: %.2f s (%.1f ms per agent; %.1f ms without a bare job's CPU); largest "
			 "agent %s." % (
				 d["start_seconds"], d["n"], d["n"], d["spawn_seconds"], d["exit_seconds"],
				 d["last_report_seconds"] or -1, d["exit_ok"], d["n"], d["cpu"], d["cpu"] / d["n"] * 1e3,
				 (d["cpu"] / d["n"] - d["bare_cpu"]) * 1e3, mib(d["rss"])))
		L.append("")
	for n in B.notes:
		L.append("Note: " + n)
		L.append("")
	secs = R.get("_seconds", {})
	L.append("Section times: " + ", ".join("%s %.0f s" % (k, v) for k, v in secs.items()) + ".")
	L.append("")
	L.append("Reproduce: `make bench` (all of it, about 4 minutes on 2 cores, plus the static build), or "
		 "`BENCH_RUNS=5 BENCH_IDLE_SECONDS=20 BENCH_SCALE=50 python3 tests/bench/bench.py --bin ./sfn-agent` "
		 "for a quick look.")
	L.append("")
	return "\n".join(L)


def text_table(rows):
	heads = ("measure", "bash trap + AWS CLI", "sfn-agent", "ratio", "target", "")
	cols = list(zip(*([heads] + [tuple(r) for r in rows])))
	w = [min(60, max(len(x) for x in c)) for c in cols]
	out = []
	for r in [heads] + [tuple(r) for r in rows]:
		out.append("  ".join(x.replace("**", "").replace("`", "").ljust(w[i]) for i, x in enumerate(r)))
	return "\n".join(out)


SVG_TERMINAL = 'svg size 860,460 font "sans,13" background rgb "white"'


def svg_chart(chart, path, terminal=SVG_TERMINAL):
	if not chart or not need_gnuplot():
		return False
	d = tempfile.mkdtemp(prefix="sfn-bench-plot-")
	dat = os.path.join(d, "data")
	with open(dat, "w") as f:
		for label, b, a in chart:
			f.write('"%s" %g %g\n' % (label, b, a))
	gp = """
set terminal %s
set output "%s"
set title "sfn-agent vs a bash trap + AWS CLI (median; lower is better; log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set yrange [0.1:%g]
set xrange [-0.6:%d-0.4]
set grid ytics
set key below horizontal
set xtics nomirror
set ytics nomirror
set format y "%%g"
plot "%s" using 2:xtic(1) title "bash trap + AWS CLI" lc rgb "#c0504d", \\
     "" using 3 title "sfn-agent" lc rgb "#4f81bd", \\
     "" using ($0-1.0/6):2:($2>=100 ? sprintf("%%.0f",$2) : sprintf("%%.3g",$2)) with labels offset 0,0.7 notitle, \\
     "" using ($0+1.0/6):3:($3>=100 ? sprintf("%%.0f",$3) : sprintf("%%.3g",$3)) with labels offset 0,0.7 notitle
""" % (terminal, path, 4 * max(max(b, a) for _, b, a in chart), len(chart), dat)
	r = subprocess.run(["gnuplot"], input=gp, capture_output=True, text=True)
	shutil.rmtree(d, ignore_errors=True)
	if r.returncode != 0:
		say("gnuplot failed: " + r.stderr.strip())
		return False
	return True


def main(argv):
	ap = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n")[0])
	ap.add_argument("--bin", default=os.path.join(ROOT, "dist", "sfn-agent"))
	ap.add_argument("--runs", type=int, default=knob("BENCH_RUNS", 20))
	ap.add_argument("--idle-seconds", type=int, default=knob("BENCH_IDLE_SECONDS", 60))
	ap.add_argument("--scale", type=int, default=knob("BENCH_SCALE", 200))
	ap.add_argument("--start-runs", type=int, default=knob("BENCH_START_RUNS", 1000))
	ap.add_argument("--relay-bytes", type=int, default=knob("BENCH_RELAY_BYTES", 1 << 30))
	ap.add_argument("--relay-runs", type=int, default=knob("BENCH_RELAY_RUNS", 5))
	ap.add_argument("--time-runs", type=int, default=knob("BENCH_TIME_RUNS", 5))
	ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
	ap.add_argument("--out-dir", default=None, help="where RESULTS.md and results.svg go [tests/bench]")
	ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "bench"),
			help="where the helper programs are built")
	a = ap.parse_args(argv)
	a.only = [s.strip() for s in a.only.split(",") if s.strip()]
	bad = [s for s in a.only if s not in SECTIONS]
	if bad:
		die("unknown section %s: choose from %s" % (", ".join(bad), ", ".join(SECTIONS)))
	if a.idle_seconds < 12:
		die("--idle-seconds must be at least 12 (one heartbeat every 10 s must fall inside)")
	fallback = None
	if not os.path.exists(a.bin):
		if a.bin == os.path.join(ROOT, "dist", "sfn-agent") and os.path.exists(os.path.join(ROOT, "sfn-agent")):
			fallback = a.bin
			a.bin = os.path.join(ROOT, "sfn-agent")
			say("dist/sfn-agent is missing (make static): using the dynamic ./sfn-agent")
		else:
			die("%s does not exist: build it with `make static` (or `make`, and pass --bin ./sfn-agent)" % a.bin)
	try:
		import moto  # noqa: F401
		import boto3  # noqa: F401
	except ImportError:
		die('the lab needs moto and boto3: pip install "moto[server]" boto3')
	B = Bench(a)
	if fallback:
		B.notes.append("%s was missing, so these figures are for the dynamic build ./sfn-agent; the "
			       "static binary is what images ship." % os.path.relpath(fallback, ROOT))
	B.run()
	rows, chart, targets = build_tables(B)
	print(text_table(rows))
	out_dir = a.out_dir
	if out_dir is None:
		if set(a.only) != set(SECTIONS):
			say("only some sections ran: RESULTS.md not written (give --out-dir to write anyway)")
			return 0
		out_dir = HERE
	os.makedirs(out_dir, exist_ok=True)
	svg = os.path.join(out_dir, "results.svg")
	if svg_chart(chart, svg):
		say("wrote " + svg)
	md = os.path.join(out_dir, "RESULTS.md")
	with open(md, "w") as f:
		f.write(markdown(B, rows, targets))
	say("wrote " + md)
	return 0


if __name__ == "__main__":
	sys.exit(main(sys.argv[1:]))
