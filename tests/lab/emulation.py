"""Running the agent of another architecture (arm64 on an amd64 machine) under qemu-user.

tests/run.py, given a --bin whose ELF machine is not this machine's, runs the integration tests
against a small script that execs `qemu-ARCH-static BINARY "$@"` (binfmt_misc is not needed, and
not mounted on most CI machines).  A test that cannot work under qemu asks:

    from emulation import skip_if_emulated
    skip_if_emulated(agent, "valgrind cannot run the binary qemu runs")

qemu-user cannot run valgrind on the guest, keeps one real-time signal for itself, and refuses
PR_SET_CHILD_SUBREAPER (EINVAL).
"""
import os
import shutil
import struct
import tempfile

MARK = "# sfn-agent under emulation: "
MACHINES = {62: "x86_64", 183: "aarch64"}


def elf_arch(path):
	"""uname -m's name of an ELF file's machine, or None for anything else."""
	try:
		with open(path, "rb") as f:
			head = f.read(20)
	except OSError:
		return None
	if head[:4] != b"\x7fELF":
		return None
	return MACHINES.get(struct.unpack_from("<H", head, 18)[0], "unknown")


def wrap(path):
	"""(argv0 to test, emulator name) for a binary: the binary itself when this machine runs it,
	else a script running it under qemu-ARCH-static; raises RuntimeError with the reason when no
	emulator is installed."""
	arch = elf_arch(path)
	if arch is None or arch == os.uname().machine:
		return path, None
	qemu = "qemu-%s-static" % arch
	full = shutil.which(qemu)
	if not full:
		raise RuntimeError("%s is a %s binary and %s is not installed (tests/setup.sh installs "
				   "qemu-user-static)" % (path, arch, qemu))
	d = tempfile.mkdtemp(prefix="sfn-agent-%s." % arch)
	script = os.path.join(d, "sfn-agent")
	with open(script, "w") as f:
		f.write("#!/bin/sh\n%s%s\nexec %s %s \"$@\"\n" % (MARK, qemu, full, os.path.abspath(path)))
	os.chmod(script, 0o755)
	return script, qemu


def emulator(agent):
	"""The emulator's name when `agent` is such a script, else None."""
	try:
		with open(agent, "rb") as f:
			head = f.read(300).decode("utf-8", "replace")
	except OSError:
		return None
	if not head.startswith("#!") or MARK not in head:
		return None
	return head.split(MARK, 1)[1].split("\n", 1)[0].strip()


def emulated_binary(agent):
	"""The real binary behind such a script (or agent itself)."""
	if not emulator(agent):
		return agent
	with open(agent) as f:
		last = f.read().strip().splitlines()[-1]
	return last.split()[2]


def skip_if_emulated(agent, why):
	emu = emulator(agent)
	if emu:
		from lab import Skip
		raise Skip("under %s: %s" % (emu, why))
