#!/usr/bin/env python3
"""Same image, different commands: one state machine, and each execution's input says what to run.

The state machine's Task passes `"Command.$": "$.commands"` to the container, so a schedule (an
EventBridge rule with a constant input) or a person can run any command the image has, under sfn-agent,
without a new task definition.  This runner starts three executions of one state machine in the lab:
two different Python programs that succeed, and one that fails, the way an operator would see them.

    python3 examples/commands/run.py [--bin ./sfn-agent]
"""
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "lab"))
import flow  # noqa: E402

# 1. Count the primes below a bound given as an argument; the result is the last line of stdout.
PRIMES = """
import json, sys
n = int(sys.argv[1])
sieve = bytearray([1]) * n
sieve[:2] = b"\\0\\0"
for i in range(2, int(n ** 0.5) + 1):
    if sieve[i]:
        sieve[i * i::i] = bytearray(len(range(i * i, n, i)))
print("primes: sieved", n, "numbers", file=sys.stderr)
print(json.dumps({"job": "primes", "below": n, "count": sum(sieve)}))
"""

# 2. Checksum a file and write the result to $SFN_OUTPUT (the file the agent reads first).
CHECKSUM = """
import hashlib, json, os, sys
path = sys.argv[1]
data = open(path, "rb").read()
print("checksum: read %d bytes of %s" % (len(data), path))
with open(os.environ["SFN_OUTPUT"], "w") as f:
    json.dump({"job": "checksum", "file": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}, f)
"""

# 3. A command that fails: the execution FAILS with ScriptFailed and the controller says why.
FAILING = """
import sys
print("import: reading batch 7", flush=True)
sys.exit("import: batch 7 has no header row")
"""

PRIMES_BELOW = 100000
CHECKSUM_FILE = os.path.join(HERE, "README.md")


def executions():
	"""(name, input) of each execution this example starts, in order."""
	return [
		("primes", {"commands": ["python3", "-c", PRIMES, str(PRIMES_BELOW)]}),
		("checksum", {"commands": ["python3", "-c", CHECKSUM, CHECKSUM_FILE]}),
		("failing", {"commands": ["python3", "-c", FAILING]}),
	]


def run(lab, agent, stream, work):
	stream.header("one state machine for every command (from `sfn-agent template`)")
	sm, how = flow.state_machine(lab, agent, stream)
	out = {"state_machine": sm, "how": how, "runs": {}}
	for name, inp in executions():
		stream.header("execution %r: the input's commands become the container's command" % name)
		out["runs"][name] = flow.workflow(lab, agent, sm, inp, stream, env_extra={"SFN_AGENT_HEARTBEAT": "5"})
	return out


def expected_primes(n=PRIMES_BELOW):
	return sum(1 for k in range(2, n) if all(k % d for d in range(2, int(k ** 0.5) + 1)))


def verify(out):
	problems = []
	runs = out["runs"]
	p = runs["primes"]
	if p.returncode != 0 or p.output != {"job": "primes", "below": PRIMES_BELOW, "count": expected_primes()}:
		problems.append("primes: controller exited %s with %r" % (p.returncode, p.output))
	c = runs["checksum"]
	data = open(CHECKSUM_FILE, "rb").read()
	want = {"job": "checksum", "file": CHECKSUM_FILE, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
	if c.returncode != 0 or c.output != want:
		problems.append("checksum: controller exited %s with %r" % (c.returncode, c.output))
	f = runs["failing"]
	if f.returncode != 1 or (f.execution or {}).get("status") != "FAILED":
		problems.append("failing: controller exited %s, execution %s (want 1, FAILED)" % (
			f.returncode, (f.execution or {}).get("status")))
	return problems


if __name__ == "__main__":
	sys.exit(flow.example_main(sys.argv[1:], __doc__, run, verify))
