#!/usr/bin/env python3
"""The one test runner: C unit binaries, then the integration tests against ONE local lab.

    python3 tests/run.py [--bin ./sfn-agent] [--unit-dir build/dev/tests] [-k PATTERN] [-j N] [--list]

Unit tests: every executable in --unit-dir prints "PASS name" / "FAIL name" lines; each line
counts as one test (reported as BINARY.name).  A binary that crashes, times out, or exits
non-zero without printing a FAIL line counts as one more failure.

Integration tests: every function test_*(lab, agent) in tests/integration/test_*.py, where
`lab` is the started tests/lab/lab.Lab and `agent` the path of the binary under test (--bin,
else $SFN_TEST_BIN, else ./sfn-agent).  A function taking one parameter gets only `lab`.  A
test passes when it returns, fails when it raises (assert).  Tests run in parallel (-j, default
3), each within its module's TIMEOUT (seconds, default 60).  Whatever a test prints (and
lab.run_agent logs: argv, exit status, stderr tail) is shown only when it fails.  A test may
raise Skip("why") (from lab import Skip) when its
precondition is missing; skips are counted apart, never as passes.

A --bin of another architecture (dist/arm64/sfn-agent on amd64) is run under qemu-ARCH-static
through a small script (tests/lab/emulation.py); when that emulator is missing, the binary's run
counts as one failure saying so.

-k PATTERN selects tests whose name contains PATTERN (or matches it as a glob when it has * ? [);
unit binaries are run only when PATTERN matches their name or one of their test names is wanted
(the whole binary runs; only matching lines are counted).  The last line is always
"N passed, M failed" (", K skipped" when any were skipped); exit status 1 when any failed or
when no test ran at all.
"""
import argparse
import fnmatch
import importlib.util
import inspect
import io
import os
import subprocess
import sys
import threading
import time
import traceback
import faulthandler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lab"))
UNIT_TIMEOUT = 120


class _ThreadOutput(io.TextIOBase):
	"""sys.stdout that sends each test thread's prints to that test's buffer."""

	def __init__(self, real):
		self.real = real
		self.local = threading.local()

	def write(self, s):
		buf = getattr(self.local, "buf", None)
		if buf is not None:
			buf.append(s)
		else:
			self.real.write(s)
		return len(s)

	def flush(self):
		self.real.flush()


def matches(name, pattern):
	if not pattern:
		return True
	if any(c in pattern for c in "*?["):
		return fnmatch.fnmatch(name, pattern)
	return pattern in name


def out(line):
	sys.__stdout__.write(line + "\n")
	sys.__stdout__.flush()


def indent(text, n=4):
	return "\n".join(" " * n + l for l in text.rstrip("\n").splitlines())


# ---------------------------------------------------------------- unit

def _labelled(spec):
	"""'LABEL=PATH' or 'PATH' -> (label, absolute path)."""
	label, sep, path = spec.partition("=")
	if not sep or "/" in label:
		label, path = "", spec
	return label, os.path.abspath(path)


def run_units(unit_dir, pattern, counts, listing):
	"""unit_dir may be LABEL=DIR: the label then tags every name, e.g. test_json.x[asan]."""
	if not unit_dir:
		return
	label, unit_dir = _labelled(unit_dir)
	tag = "[%s]" % label if label else ""
	if not os.path.isdir(unit_dir):
		out("note: no unit test directory %s (build it with make unit)" % unit_dir)
		return
	bins = sorted(os.path.join(unit_dir, f) for f in os.listdir(unit_dir)
			  if f.startswith("test_") and os.access(os.path.join(unit_dir, f), os.X_OK)
			  and os.path.isfile(os.path.join(unit_dir, f)))
	for b in bins:
		base = os.path.basename(b)
		if listing:
			out("%s (unit binary)" % base)
			continue
		t0 = time.monotonic()
		try:
			p = subprocess.run([b], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=UNIT_TIMEOUT,
					   cwd=os.path.dirname(HERE))
			rc, so, se = p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
		except subprocess.TimeoutExpired as e:
			rc, so = "timeout", (e.stdout or b"").decode("utf-8", "replace")
			se = (e.stderr or b"").decode("utf-8", "replace")
		dt = time.monotonic() - t0
		lines = [l.split(None, 1) for l in so.splitlines() if l.startswith(("PASS ", "FAIL "))]
		wanted = [(v, n.strip()) for v, n in lines if matches(base, pattern) or matches(base + "." + n.strip(), pattern)]
		if pattern and not wanted and not matches(base, pattern):
			continue
		fails = 0
		for verdict, name in wanted:
			full = "%s.%s%s" % (base, name, tag)
			if verdict == "PASS":
				counts["passed"] += 1
				out("PASS %s" % full)
			else:
				counts["failed"] += 1
				fails += 1
				out("FAIL %s" % full)
		if fails:
			out(indent(se or "(no stderr)"))
		if rc != 0 and not any(v == "FAIL" for v, _ in lines):
			counts["failed"] += 1
			why = "timed out after %ss" % UNIT_TIMEOUT if rc == "timeout" else (
				"killed by signal %d" % -rc if isinstance(rc, int) and rc < 0 else "exit status %s" % rc)
			out("FAIL %s%s (%.1fs): binary %s without a FAIL line" % (base, tag, dt, why))
			out(indent((so + se)[-3000:] or "(no output)"))


# ---------------------------------------------------------------- integration

def load_tests(pattern):
	d = os.path.join(HERE, "integration")
	tests = []
	for f in sorted(os.listdir(d)):
		if not (f.startswith("test_") and f.endswith(".py")):
			continue
		modname = f[:-3]
		spec = importlib.util.spec_from_file_location(modname, os.path.join(d, f))
		mod = importlib.util.module_from_spec(spec)
		sys.modules[modname] = mod
		try:
			spec.loader.exec_module(mod)
		except Exception:
			tests.append((modname + ".<import>", None, 0, traceback.format_exc()))
			continue
		timeout = getattr(mod, "TIMEOUT", 60)
		for name, fn in inspect.getmembers(mod, inspect.isfunction):
			if name.startswith("test_") and fn.__module__ == modname:
				full = "%s.%s" % (modname, name)
				if matches(full, pattern):
					tests.append((full, fn, timeout, None))
	tests.sort(key=lambda t: (t[1].__code__.co_firstlineno if t[1] else 0, t[0]))
	tests.sort(key=lambda t: t[0].split(".")[0])
	return tests


class Result:
	def __init__(self, name, timeout):
		self.name, self.timeout = name, timeout
		self.verdict = None
		self.summary = ""
		self.detail = ""
		self.start = self.end = None
		self.done = threading.Event()


def _run_one(fn, lab, agent, res, stdout_proxy):
	buf = []
	stdout_proxy.local.buf = buf
	res.start = time.monotonic()
	try:
		nparams = len(inspect.signature(fn).parameters)
		fn(*(lab, agent)[:nparams])
		res.verdict = "PASS"
	except BaseException as e:
		if type(e).__name__ == "Skip":
			res.verdict = "SKIP"
			res.summary = str(e)
		else:
			res.verdict = "FAIL"
			first = (str(e).strip().splitlines() or [""])[0]
			res.summary = "%s: %s" % (type(e).__name__, first) if first else type(e).__name__
			buf.append(traceback.format_exc())
	finally:
		res.end = time.monotonic()
		stdout_proxy.local.buf = None
		res.detail = "".join(buf)
		res.done.set()


def run_integration(tests, agents, jobs, counts):
	"""Every test against each (label, binary) in turn, in one lab; the names of the runs after
	the first carry the label, e.g. "test_run.test_x[static]"."""
	from lab import Lab
	if not tests:
		return
	t0 = time.monotonic()
	try:
		lab = Lab().start()
	except Exception:
		counts["failed"] += 1
		out("FAIL lab (%.1fs): the lab did not start" % (time.monotonic() - t0))
		out(indent(traceback.format_exc()))
		return
	out("lab: %s up in %.1fs" % (lab.endpoint, lab.startup_seconds))
	proxy = _ThreadOutput(sys.stdout)
	sys.stdout = proxy
	try:
		for label, agent in agents:
			out("agent under test%s: %s" % (" [%s]" % label if label else "", agent))
			named = [(name + ("[%s]" % label if label else ""), fn, timeout, err)
				 for name, fn, timeout, err in tests]
			_run_all(named, lab, agent, jobs, counts, proxy)
	finally:
		sys.stdout = proxy.real
		lab.stop()


def _run_all(tests, lab, agent, jobs, counts, proxy):
	pending = list(tests)
	running = []
	if True:
		while pending or running:
			while pending and len(running) < jobs:
				name, fn, timeout, import_error = pending.pop(0)
				if fn is None:
					counts["failed"] += 1
					out("FAIL %s: the module does not import" % name)
					out(indent(import_error))
					continue
				res = Result(name, timeout)
				threading.Thread(target=_run_one, args=(fn, lab, agent, res, proxy), daemon=True,
						 name=name).start()
				res.deadline = time.monotonic() + timeout
				running.append(res)
			time.sleep(0.02)
			for res in list(running):
				if res.done.is_set():
					running.remove(res)
					report(res, counts)
				elif time.monotonic() > res.deadline:
					# The thread cannot be killed; it is a daemon and the lab's processes die at exit.
					running.remove(res)
					res.verdict = "FAIL"
					res.summary = "timed out after %ss (module TIMEOUT)" % res.timeout
					res.end = time.monotonic()
					res.start = res.start or res.end
					res.detail = "(output of a test still running is not available)"
					report(res, counts)


def report(res, counts):
	dt = (res.end or 0) - (res.start or 0)
	if res.verdict == "PASS":
		counts["passed"] += 1
		out("PASS %s (%.1fs)" % (res.name, dt))
	elif res.verdict == "SKIP":
		counts["skipped"] += 1
		out("SKIP %s: %s" % (res.name, res.summary))
	else:
		counts["failed"] += 1
		out("FAIL %s (%.1fs): %s" % (res.name, dt, res.summary))
		if res.detail.strip():
			out(indent(res.detail))


def _descendants(root):
	"""PIDs of every live descendant of root, from /proc (Linux)."""
	children = {}
	for d in os.listdir("/proc"):
		if not d.isdigit():
			continue
		try:
			with open("/proc/%s/stat" % d) as f:
				ppid = int(f.read().rsplit(")", 1)[1].split()[1])
		except (OSError, IndexError, ValueError):
			continue
		children.setdefault(ppid, []).append(int(d))
	out, todo = [], [root]
	while todo:
		for c in children.get(todo.pop(), []):
			out.append(c)
			todo.append(c)
	return out


def kill_leftovers():
	"""A test that timed out may have left children (agents, servers): nothing outlives the run."""
	import signal
	for pid in _descendants(os.getpid()):
		try:
			os.kill(pid, signal.SIGKILL)
		except OSError:
			pass


def main(argv):
	ap = argparse.ArgumentParser(prog="tests/run.py", description=__doc__.split("\n\n")[0])
	ap.add_argument("--bin", action="append", default=None,
			help="binary under test, PATH or LABEL=PATH; repeat it to run the integration tests "
			     "against each in turn (default $SFN_TEST_BIN or ./sfn-agent)")
	ap.add_argument("--unit-dir", action="append", default=None,
			help="directory of unit test binaries (may be repeated)")
	ap.add_argument("-k", dest="pattern", default=None, help="run only tests whose name contains PATTERN")
	ap.add_argument("-j", dest="jobs", type=int, default=3, help="integration tests in parallel (default 3)")
	ap.add_argument("--list", action="store_true", help="list the tests and exit")
	a = ap.parse_args(argv)
	agents = []
	for spec in a.bin or [os.environ.get("SFN_TEST_BIN") or "./sfn-agent"]:
		agents.append(_labelled(spec))
	counts = {"passed": 0, "failed": 0, "skipped": 0}
	t0 = time.monotonic()
	tests = load_tests(a.pattern)
	if a.list:
		for d in a.unit_dir or [None]:
			run_units(d, a.pattern, counts, True)
		for name, *_ in tests:
			out(name)
		return 0
	for d in a.unit_dir or [None]:
		run_units(d, a.pattern, counts, False)
	for label, agent in agents:
		if tests and not os.access(agent, os.X_OK):
			out("note: %s is not an executable: tests that run the agent will fail" % agent)
	# A binary of another architecture (arm64 here) runs under qemu-user, through a small script.
	from emulation import wrap
	runnable = []
	for label, agent in agents:
		try:
			script, emu = wrap(agent)
		except RuntimeError as e:
			counts["failed"] += 1
			out("FAIL %s: %s" % (label or agent, e))
			continue
		if emu:
			out("note: %s runs under %s (%s)" % (agent, emu, script))
		runnable.append((label, script))
	run_integration(tests, runnable, max(1, a.jobs), counts)
	if not (counts["passed"] or counts["failed"] or counts["skipped"]):
		out("note: no test ran%s" % (" (nothing matches -k %s)" % a.pattern if a.pattern else ""))
	line = "%d passed, %d failed" % (counts["passed"], counts["failed"])
	if counts["skipped"]:
		line += ", %d skipped" % counts["skipped"]
	out("(%.1fs)" % (time.monotonic() - t0))
	out(line)
	# Nothing run proves nothing: that is not a success either.
	return 1 if counts["failed"] or not (counts["passed"] or counts["skipped"]) else 0


if __name__ == "__main__":
	if os.environ.get("SFN_TEST_WATCHDOG"):
		faulthandler.dump_traceback_later(float(os.environ["SFN_TEST_WATCHDOG"]), exit=True)
	try:
		code = main(sys.argv[1:])
	finally:
		kill_leftovers()
	sys.stdout.flush()
	# Threads of timed-out tests may still hold locks: leave without waiting for them.
	os._exit(code)
