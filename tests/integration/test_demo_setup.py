"""What `make demo` asks of a machine (docs/building.md, "The demo and its emulator"): a C compiler,
make, the libcurl, OpenSSL and cJSON headers, and a Python with moto; not clang, libFuzzer, valgrind
or busybox, which only `make test` needs.  Where PEP 668 refuses `pip install`, the recipe is a
virtual environment in the tree, .venv, which the setup (and so make) finds and uses by itself."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))
from lab import Skip  # noqa: E402

TIMEOUT = 120
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What a fresh Debian or Ubuntu has, plus the compiler and make: no clang, valgrind or busybox.
BASIC = ["sh", "echo", "dirname", "id", "cat", "env", "mkdir", "rm", "uname", "sed", "grep", "tr", "expr"]


def _path_dir(tmp, python):
    """A directory to be the whole PATH: the basic tools, cc and make, and python3 = python."""
    d = os.path.join(tmp, "bin")
    os.mkdir(d)
    for name in BASIC + ["cc", "make"]:
        real = shutil.which(name)
        if real:
            os.symlink(real, os.path.join(d, name))
    os.symlink(python, os.path.join(d, "python3"))
    for absent in ("clang", "valgrind", "busybox", "apt-get"):
        assert not os.path.exists(os.path.join(d, absent))
    return d


def _run(argv, path, cwd=ROOT):
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/root")}
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def test_demo_needs_no_test_tools(lab, agent):  # noqa: ARG001
    with tempfile.TemporaryDirectory() as tmp:
        path = _path_dir(tmp, os.path.realpath(sys.executable))
        rc, out = _run(["make", "-s", "demo-deps"], path)
        assert rc == 0 and "setup: ok" in out, "make demo's check failed without clang and valgrind:\n" + out
        # The same PATH does lack what make test needs: the full check says so.
        rc, out = _run(["sh", "tests/setup.sh", "--check"], path)
        assert rc == 1 and "clang" in out and "valgrind" in out, out
    rc, plan = _run(["make", "-n", "demo"], os.environ["PATH"])
    assert "tests/setup.sh --demo" in plan, "make demo does not run the demo's own check:\n" + plan
    assert not re.search(r"tests/setup\.sh\s*$", plan, re.M), "make demo also runs the full check:\n" + plan


def test_setup_finds_and_uses_the_tree_venv(lab, agent):  # noqa: ARG001
    system = "/usr/bin/python3"
    if not os.path.exists(system) or subprocess.run([system, "-c", "import moto"], capture_output=True).returncode == 0:
        raise Skip("needs a system python3 without moto at /usr/bin/python3")
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "tree")
        os.makedirs(os.path.join(tree, "tests"))
        for f in ("tests/setup.sh", "Makefile"):
            shutil.copy(os.path.join(ROOT, f), os.path.join(tree, f))
        path = _path_dir(tmp, system)
        # Without .venv: python3 (the system's) lacks moto; the sentence gives the recipe.
        rc, out = _run(["sh", "tests/setup.sh", "--demo", "--check"], path, cwd=tree)
        assert rc == 1 and "python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt" in out, out
        # The recipe, without the download: a venv that sees the packages of a Python that has moto.
        subprocess.run([os.path.realpath(sys.executable), "-m", "venv", "--system-site-packages", "--without-pip",
                        os.path.join(tree, ".venv")], check=True, timeout=60)
        venv_python = os.path.join(tree, ".venv", "bin", "python3")
        rc, out = _run(["sh", "tests/setup.sh", "--python"], path, cwd=tree)
        assert rc == 0 and out.strip() == venv_python, out
        rc, out = _run(["sh", "tests/setup.sh", "--demo", "--check"], path, cwd=tree)
        assert rc == 0 and "setup: ok" in out, out
        rc, out = _run(["make", "-s", "--eval", "print-python: ; @echo $(PYTHON)", "print-python"], path, cwd=tree)
        assert rc == 0 and out.strip() == venv_python, "make runs the lab with %r, not the venv's python" % out


def test_requirements_pin_the_moto_the_lab_patches():
    lab_doc = open(os.path.join(ROOT, "tests", "lab", "lab.py")).read()
    patched = re.search(r"moto (\d+\.\d+\.\d+) bugs patched here", lab_doc).group(1)
    req = open(os.path.join(ROOT, "tests", "requirements.txt")).read()
    assert re.search(r"^moto\[server\]==%s$" % re.escape(patched), req, re.M), req
