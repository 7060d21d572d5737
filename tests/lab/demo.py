#!/usr/bin/env python3
"""`make demo`: one whole waitForTaskToken workflow on the local emulator, in a few seconds.

    lab started -> state machine (from `sfn-agent template`) -> execution started by `sfn-agent start`
    -> the ECS task runs its command under sfn-agent (heartbeats, logs) -> report delivered
    -> execution SUCCEEDED, its output printed by the controller

Everything runs on 127.0.0.1 against moto with SigV4 and IAM enforced: the operator (the controller)
holds admin keys, the task holds keys allowed only states:SendTask*.  Exits 0 only when the workflow
succeeded with the output the job computed.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flow  # noqa: E402

# A small nightly job: make a day of orders, add them up per region, log as it goes, and end with
# its result as one JSON line (the agent sends the trailing JSON of stdout as the task's output).
JOB = r"""
set -eu
day=2026-11-20
orders() {
	i=0
	while [ $i -lt 240 ]; do echo "$((i % 3)) $(( (i * 37) % 101 + 1 ))"; i=$((i + 1)); done
}
echo "orders-report: building the report for $day"
sleep 1
echo "orders-report: read $(orders | wc -l) orders"
echo "orders-report: region 2 has late data (a warning, on stderr)" >&2
sleep 1
echo "orders-report: done"
orders | awk -v day="$day" '{ t[$1] += $2; all += $2 }
	END { printf "{\"day\":\"%s\",\"orders\":%d,\"total\":%d,\"byRegion\":[%d,%d,%d]}\n",
		day, NR, all, t[0], t[1], t[2] }'
"""


def expected():
	rows = [(i % 3, (i * 37) % 101 + 1) for i in range(240)]
	return {"day": "2026-11-20", "orders": len(rows), "total": sum(v for _, v in rows),
		"byRegion": [sum(v for r, v in rows if r == k) for k in range(3)]}


def main(argv):
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	ap.add_argument("--bin", default="./sfn-agent", help="the sfn-agent binary (default ./sfn-agent)")
	a = ap.parse_args(argv)
	print("loading the local AWS emulator (moto)...", flush=True)
	flow.require_moto()
	flow.quiet_moto()
	agent = flow.resolve_bin(a.bin)
	import lab as lablib

	s = flow.Stream()
	s.header("1. the lab: moto's Step Functions + ECS + IAM on 127.0.0.1, signatures and policies enforced")
	s.line("lab", "starting the local AWS emulator (usually 5 to 20 s)...")
	lab = lablib.Lab().start()
	ok = False
	try:
		s.line("lab", "listening on %s (started in %.1fs); cluster %r, task definition %s" % (
			lab.endpoint, lab.startup_seconds, lablib.CLUSTER, lab.task_definition_arn.rpartition("/")[2]))
		s.line("lab", "the operator uses admin keys; the task's keys allow only states:SendTask*")

		s.header("2. the state machine: an ecs:runTask.waitForTaskToken Task, as `sfn-agent template` writes it")
		sm, how = flow.state_machine(lab, agent, s)

		s.header("3. the operator starts an execution and waits; ECS (played by the lab) runs the task "
			 "under sfn-agent")
		s.line("", "   the job (the container's command, passed in the execution's input as \"commands\"):")
		for l in JOB.strip().splitlines():
			s.line("", "     | " + l)
		s.line("", "   tags: operator = `sfn-agent start` (stdout: the output), start = its progress (stderr),")
		s.line("", "         task out/err = the container's log (the job, and sfn-agent's own lines),")
		s.line("", "         aws = each SendTask* call as Step Functions received it")
		s.line("", "   starting the execution; the controller waits until it ends (a few seconds)...")
		r = flow.workflow(lab, agent, sm, {"commands": ["sh", "-c", JOB]}, s,
				  agent_args=["--heartbeat", "1"], timeout=60)

		s.header("4. the result")
		d = r.execution or {}
		s.line("lab", "execution %s: %s" % (d.get("executionArn", "?").rpartition(":")[2], d.get("status")))
		s.line("operator", "sfn-agent start exited %s after %.1fs; its stdout: %s" % (
			r.returncode, r.seconds, r.stdout.decode("utf-8", "replace").strip() or "(nothing)"))
		want = expected()
		problems = []
		if r.returncode != 0:
			problems.append("the controller exited %s, not 0" % r.returncode)
		if d.get("status") != "SUCCEEDED":
			problems.append("the execution is %s, not SUCCEEDED" % d.get("status"))
		if r.output != want:
			problems.append("the controller printed %r, not the job's result %s" % (r.output, json.dumps(want)))
		if d.get("output") and json.loads(d["output"]) != want:
			problems.append("the execution's output is %s, not the job's result" % d["output"])
		if not any("ECS task" in l and "RUNNING" in l for l in r.stderr.decode("utf-8", "replace").splitlines()):
			problems.append("the controller's progress never showed the ECS task's status")
		if not r.tasks or any(rc != 0 for _, rc in r.tasks):
			problems.append("the ECS task's agent exited %s" % [rc for _, rc in r.tasks])
		ok = not problems
		if ok:
			s.line("", "\nThe workflow SUCCEEDED: the execution's output is the job's own result%s." % (
				"" if how == "template" else " (state machine: the lab's default definition, "
				"because `sfn-agent template` did not work)"))
			s.line("", "Next: put sfn-agent in your image (README.md, \"Use it\"); ./sfn-agent --help lists "
			       "its options.")
			py = ".venv/bin/python3" if "/.venv/" in sys.executable else "python3"
			s.line("", "To run the commands above yourself: %s tests/lab/lab.py serve keeps a lab up and "
			       "prints the environment they need." % py)
		for p in problems:
			s.line("", "FAILED: " + p)
	finally:
		lab.stop()
	return 0 if ok else 1


if __name__ == "__main__":
	sys.exit(main(sys.argv[1:]))
