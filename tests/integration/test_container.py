"""The agent in real OCI containers (podman + runc): the image is the project's own Dockerfile
(its last stage, holding the binary under test), and the job image is made the way the README
tells users (COPY --from the agent image, ENTRYPOINT ["/usr/local/bin/sfn-agent", "--"]), with
busybox for the command.  Each runs with --network host against the lab, as ECS would run it:
the task's environment and command override come from the execution.

Only a static binary of this machine's architecture can go into the image: the others (the
development build, the sanitized one, arm64 under qemu) skip with that reason."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from agentlib import execution, failure, sent, sent_output  # noqa: E402
from emulation import emulator  # noqa: E402
from lab import Skip, log  # noqa: E402
from podman import elf_machine, host_arch, podman  # noqa: E402

TIMEOUT = 180
STOP_TIMEOUT = 25     # podman stop -t, as ECS's stopTimeout
PASS_ENV = ("AWS_", "SFN_AGENT_", "TASK_TOKEN")


def _images(agent, files=None):
	emu = emulator(agent)
	if emu:
		raise Skip("under %s: a container of another architecture needs binfmt_misc, which this "
			   "machine does not mount (make dist builds and checks the arm64 image)" % emu)
	arch, static = elf_machine(agent)
	if arch != host_arch():
		raise Skip("a linux/%s image cannot run on this %s machine" % (arch, host_arch()))
	if not static:
		raise Skip("only a static binary goes into the FROM scratch image (this one is dynamic: "
			   "the [static] run covers it)")
	pm = podman()
	return pm, pm.job_image(pm.agent_image(agent, arch), files)


def _run_args(lab, task, name, *opts):
	env = lab.task_env()
	env.update(task.env)
	args = ["run", "--rm", "--name", name, "--network", "host", "--pull", "never", *opts]
	for k, v in sorted(env.items()):
		if k.startswith(PASS_ENV):
			args += ["-e", "%s=%s" % (k, v)]
	return args


def _run(pm, lab, task, image, name, *opts, timeout=90):
	t0 = time.time()
	p = pm.cmd(*_run_args(lab, task, name, *opts), image, *task.command, timeout=timeout)
	log("$ podman run %s ... -> exit %d in %.2fs\n  stderr: %s" % (
		" ".join(opts), p.returncode, time.time() - t0, p.stderr[-1500:]))
	return p, t0


def _name(tag):
	return "sfn-test-%s-%d-%d" % (tag, os.getpid(), int(time.monotonic() * 1000) % 10**8)


def test_container_job_image_succeeds_with_its_output(lab, agent):
	ex, task = execution(lab, ["sh", "-c", "echo working; echo '{\"in\":\"container\"}'"],
			     heartbeat=30)
	pm, image = _images(agent)
	p, t0 = _run(pm, lab, task, image, _name("ok"))
	assert p.returncode == 0, p.stderr
	assert "working" in p.stdout, p.stdout
	assert sent_output(lab, task) == '{"in":"container"}', sent_output(lab, task)
	beats = sent(lab, "SendTaskHeartbeat", task)
	assert beats and beats[0].ok, "no first heartbeat reached the lab"
	log("start to first heartbeat: %.3f s (podman run to SendTaskHeartbeat at the lab)" % (beats[0].time - t0))
	d = lab.wait_execution(ex)
	assert d["status"] == "SUCCEEDED", d


def test_container_podman_stop_reports_container_stopped(lab, agent):
	ex, task = execution(lab, ["sh", "-c", "echo started; sleep 300"], heartbeat=30)
	pm, image = _images(agent)
	name = _name("stop")
	run = pm.popen(*_run_args(lab, task, name), image, *task.command)
	try:
		# Event-driven: stop once the command is running (its line is out and the agent sent its
		# first heartbeat before starting it).
		line = run.stdout.readline()
		assert line == b"started\n", (line, run.stderr.read() if run.poll() is not None else "")
		t0 = time.time()
		stop = pm.cmd("stop", "-t", str(STOP_TIMEOUT), name, timeout=STOP_TIMEOUT + 30)
		stopped = time.time() - t0
		rc = run.wait(timeout=30)
		err = run.stderr.read().decode("utf-8", "replace")
	finally:
		if run.poll() is None:
			pm.cmd("rm", "-f", name)
			run.kill()
	log("podman stop took %.2f s; container exit %s\n  stderr: %s" % (stopped, rc, err[-1500:]))
	assert stop.returncode == 0, stop.stderr
	# SIGTERM was enough: the agent forwarded it, the command died of it, the report went out, all
	# before podman's SIGKILL (which would make the status 137).
	assert stopped < STOP_TIMEOUT, "podman stop needed its SIGKILL (%.1f s)" % stopped
	assert rc == 143, "container exit status %s; the README says 128+15 when the command died from SIGTERM" % rc
	error, cause = failure(lab, task)
	assert error == "ContainerStopped", error
	assert cause["signal"] == "SIGTERM" or cause.get("exitCode") in (None, 143), cause
	reports = [c for c in sent(lab, None, task) if c.operation != "SendTaskHeartbeat"]
	assert len(reports) == 1, [c.operation for c in reports]
	log("podman stop to report at the lab: %.3f s" % (reports[0].time - t0))
	assert reports[0].time - t0 < STOP_TIMEOUT
	d = lab.wait_execution(ex)
	assert d["status"] == "FAILED", d


def test_container_read_only_root_without_tmp_sfn_output_works(lab, agent):
	# No writable path at all, and no /tmp: the result still gets out through $SFN_OUTPUT.
	script = ("if touch /probe 2>/dev/null; then echo 'root is writable' >&2; exit 9; fi; "
		  "if [ -e /tmp ]; then echo '/tmp exists' >&2; exit 8; fi; "
		  "echo '{\"read_only\":true}' > \"$SFN_OUTPUT\"; echo 'not the output'")
	ex, task = execution(lab, ["sh", "-c", script])
	pm, image = _images(agent)
	p, _ = _run(pm, lab, task, image, _name("ro"), "--read-only", "--read-only-tmpfs=false")
	assert p.returncode == 0, p.stderr
	assert sent_output(lab, task) == '{"read_only":true}'
	assert lab.wait_execution(ex)["status"] == "SUCCEEDED"


def test_container_behind_init_and_as_nobody(lab, agent):
	# --init puts catatonit in front as PID 1: the agent is not PID 1 and must still work; and a
	# task definition's "user": "65534" runs it unprivileged.
	script = "echo '{\"uid\":'$(id -u)',\"agent_pid\":'$PPID'}'"
	for opts, want in ((("--init",), None), (("--user", "65534"), 65534), (("--init", "--user", "65534:65534"), 65534)):
		ex, task = execution(lab, ["sh", "-c", script])
		pm, image = _images(agent)
		p, _ = _run(pm, lab, task, image, _name("init"), *opts)
		assert p.returncode == 0, (opts, p.stderr)
		out = __import__("json").loads(sent_output(lab, task))
		if "--init" in opts:
			assert out["agent_pid"] != 1, (opts, out)
		else:
			assert out["agent_pid"] == 1, (opts, out)
		if want is not None:
			assert out["uid"] == want, (opts, out)
		assert lab.wait_execution(ex)["status"] == "SUCCEEDED", opts


def test_container_orphans_leave_no_zombie(lab, agent):
	# Orphans that exit while the command still runs are the agent's (PID 1, or subreaper behind
	# --init) to reap; the command counts zombies in the container before it ends.
	script = ("(sleep 0.2 &); (sleep 0.3 &); (sh -c 'sleep 0.2' &); sleep 2; "
		  "z=0; for s in /proc/[0-9]*/stat; do "
		  "  st=$(cat $s 2>/dev/null | sed 's/.*) //' | cut -d' ' -f1); [ \"$st\" = Z ] && z=$((z+1)); "
		  "done; echo \"{\\\"zombies\\\":$z}\"")
	for opts in ((), ("--init",)):
		ex, task = execution(lab, ["sh", "-c", script])
		pm, image = _images(agent)
		p, _ = _run(pm, lab, task, image, _name("zombie"), *opts)
		assert p.returncode == 0, (opts, p.stderr)
		assert sent_output(lab, task) == '{"zombies":0}', (opts, sent_output(lab, task))
		assert lab.wait_execution(ex)["status"] == "SUCCEEDED", opts
