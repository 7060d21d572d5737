"""`make demo` itself, as a newcomer runs it: its own lab, template, start, the task under the
agent, SUCCEEDED with the job's result.  demo.py exits 1 unless the controller printed exactly the
result the job computes."""
import os
import re
import subprocess
import sys

TIMEOUT = 120
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_make_demo_workflow_succeeds(lab, agent):  # demo.py starts a lab of its own
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SFN_AGENT_")) and k != "TASK_TOKEN"}
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "lab", "demo.py"), "--bin", agent],
                       cwd=ROOT, env=env, capture_output=True, timeout=110)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    assert p.returncode == 0, out[-4000:]
    assert "SUCCEEDED" in out, out[-4000:]
    assert "sfn-agent: SendTaskSuccess delivered" in out, out[-4000:]
    assert re.search(r"start +sfn-agent: ECS task [0-9a-f-]+ RUNNING", out), out[-4000:]   # its status, on the progress
