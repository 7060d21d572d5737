"""The examples in examples/, each run the way its README says: through the controller (`sfn-agent start`)
against the shared lab, with ECS played by the lab and the agent as the task's ENTRYPOINT.  Each test
checks what the job really produced (files on disk, their size and checksum, what Step Functions
received), not only that the controller said SUCCEEDED."""
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
import flow  # noqa: E402
from lab import Skip, log  # noqa: E402

# db-dump installs MariaDB first when it is missing and we are root.
TIMEOUT = 240


def _example(name):
	"""examples/NAME/run.py as a module (the directories have dashes, so no plain import)."""
	path = os.path.join(REPO, "examples", name, "run.py")
	spec = importlib.util.spec_from_file_location("example_" + name.replace("-", "_"), path)
	mod = importlib.util.module_from_spec(spec)
	spec.loader.exec_module(mod)
	return mod


def _run(lab, agent, name, needs):
	"""Runs the example; returns (module, outcome, stream, work dir).  The caller removes the work dir.
	needs(mod) checks (as root: installs) the programs the example runs; without them and without root
	to install them, the test is skipped, never passed."""
	mod = _example(name)
	try:
		needs(mod)
	except RuntimeError as e:
		if os.geteuid() != 0:
			raise Skip(str(e))
		raise
	work = tempfile.mkdtemp(prefix="sfn-test-%s-" % name)
	stream = flow.Stream(echo=False)
	try:
		out = mod.run(lab, agent, stream, work)
	except BaseException:
		log(stream.text())
		shutil.rmtree(work, ignore_errors=True)
		raise
	log(stream.text())
	return mod, out, stream, work


def _succeeded(lab, r, what):
	"""The controller and Step Functions agree that it succeeded, with the same output, delivered once."""
	assert not r.timed_out, "%s: sfn-agent start did not finish" % what
	assert r.returncode == 0, "%s: sfn-agent start exited %s: %s" % (what, r.returncode, r.stderr[-2000:])
	assert r.execution and r.execution["status"] == "SUCCEEDED", "%s: execution %r" % (what, r.execution)
	assert json.loads(r.execution["output"]) == r.output, "%s: the controller printed %r, the execution's " \
		"output is %s" % (what, r.output, r.execution["output"])
	assert len(r.tasks) == 1, "%s: %d ECS tasks ran, not 1" % (what, len(r.tasks))
	task, rc = r.tasks[0]
	assert rc == 0, "%s: the agent exited %s" % (what, rc)
	ok = [c for c in lab.calls("SendTaskSuccess", token=task.token) if c.ok]
	assert len(ok) == 1, "%s: %d accepted SendTaskSuccess for the task's token, not 1" % (what, len(ok))
	assert json.loads(json.loads(ok[0].body)["output"]) == r.output
	assert not lab.calls("SendTaskFailure", token=task.token), "%s: a failure was reported too" % what
	return task


def test_example_db_dump(lab, agent):
	mod, out, stream, work = _run(lab, agent, "db-dump", lambda m: m.tools())
	try:
		r = out["result"]
		_succeeded(lab, r, "db-dump")
		o = r.output
		assert set(o) == {"dumpFile", "bytes", "sha256"}, o
		path = o["dumpFile"]
		assert os.path.dirname(path) == out["dump_dir"] and os.path.isfile(path), \
			"the output names %r, not a file in %s" % (path, out["dump_dir"])
		assert os.listdir(out["dump_dir"]) == [os.path.basename(path)], "left behind: %r" % os.listdir(out["dump_dir"])
		data = open(path, "rb").read()
		assert o["bytes"] == len(data) == os.path.getsize(path), (o["bytes"], len(data))
		assert o["sha256"] == hashlib.sha256(data).hexdigest(), "the reported sha256 is not the file's"
		# And it is a dump of this database: the table definitions and the seeded rows are in it.
		sql = gzip.decompress(data).decode()
		assert "CREATE TABLE `customers`" in sql and "CREATE TABLE `orders`" in sql, sql[:500]
		assert "(3,'Edsger Dijkstra','NL')" in sql and "(103,3,99900,'2026-11-20 11:05:00')" in sql, sql[-1500:]
		assert len(out["rows"]) == 5
		assert mod.verify(out) == []
	finally:
		shutil.rmtree(work, ignore_errors=True)


def test_example_image_convert(lab, agent):
	mod, out, stream, work = _run(lab, agent, "image-convert", lambda m: m.imagemagick())
	try:
		r = out["result"]
		_succeeded(lab, r, "image-convert")
		o = r.output
		names = sorted(mod.IMAGES)
		want = [os.path.join(out["out_dir"], n + ".jpg") for n in names]
		assert o["converted"] == len(names) == 4, o
		assert sorted(o["files"]) == want, o["files"]
		assert sorted(os.listdir(out["out_dir"])) == [n + ".jpg" for n in names], os.listdir(out["out_dir"])
		for n, path in zip(names, want):
			with open(path, "rb") as f:
				assert f.read(3) == b"\xff\xd8\xff", "%s is not a JPEG" % path
			w, h, fmt = mod.size_of(path)
			iw, ih, _ = out["inputs"][n]
			assert fmt == "JPEG" and max(w, h) == 128, (path, w, h, fmt)
			assert abs(w - iw * 128 / max(iw, ih)) <= 1 and abs(h - ih * 128 / max(iw, ih)) <= 1, \
				"%s: %dx%d is not the thumbnail of %dx%d" % (path, w, h, iw, ih)
		# The output came from $SFN_OUTPUT, not stdout: the job's stdout holds only log lines.
		assert not any(l.startswith("{") for l in stream.lines if " task out " in l), stream.text()
		assert mod.verify(out) == []
	finally:
		shutil.rmtree(work, ignore_errors=True)


def test_example_commands(lab, agent):
	mod, out, stream, work = _run(lab, agent, "commands", lambda m: None)
	try:
		runs = out["runs"]
		inputs = dict(mod.executions())
		# One state machine, three executions, each task running the command its input named.
		arns = {n: r.execution["executionArn"] for n, r in runs.items() if r.execution}
		assert len(arns) == 3 and len(set(arns.values())) == 3, arns
		assert all(a.split(":")[6] == out["state_machine"].split(":")[6] for a in arns.values()), arns
		for n, r in runs.items():
			assert [t.command for t, _ in r.tasks] == [inputs[n]["commands"]], (n, r.tasks)

		p = runs["primes"]
		_succeeded(lab, p, "primes")
		n = mod.PRIMES_BELOW
		sieve = [True] * n
		sieve[0] = sieve[1] = False
		for i in range(2, int(n ** 0.5) + 1):
			if sieve[i]:
				sieve[i * i::i] = [False] * len(range(i * i, n, i))
		assert p.output == {"job": "primes", "below": n, "count": sum(sieve)} and sum(sieve) == 9592, p.output

		c = runs["checksum"]
		_succeeded(lab, c, "checksum")
		data = open(mod.CHECKSUM_FILE, "rb").read()
		assert c.output == {"job": "checksum", "file": mod.CHECKSUM_FILE, "bytes": len(data),
				    "sha256": hashlib.sha256(data).hexdigest()}, c.output

		f = runs["failing"]
		assert f.returncode == 1, "a FAILED execution makes sfn-agent start exit 1, not %s" % f.returncode
		assert f.execution["status"] == "FAILED" and f.execution.get("error") == "ScriptFailed", f.execution
		task, rc = f.tasks[0]
		assert rc == 1, "the agent exits with the command's status (1), not %s" % rc
		bad = [x for x in lab.calls("SendTaskFailure", token=task.token) if x.ok]
		assert len(bad) == 1 and not lab.calls("SendTaskSuccess", token=task.token), bad
		body = json.loads(bad[0].body)
		cause = json.loads(body["cause"])
		assert body["error"] == "ScriptFailed" and cause["exitCode"] == 1, body
		assert "batch 7 has no header row" in cause["stderrTail"], cause
		assert "ScriptFailed" in f.stderr.decode("utf-8", "replace"), "the controller does not name the error"
		assert mod.verify(out) == []
	finally:
		shutil.rmtree(work, ignore_errors=True)
