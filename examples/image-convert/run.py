#!/usr/bin/env python3
"""An image conversion batch in the lab: PNGs in, JPEG thumbnails out, the job under sfn-agent.

The runner makes a few PNG images with ImageMagick (the input a real batch would find in a bucket or
on a volume), creates the state machine `sfn-agent template` writes, plays ECS with the agent as the
ENTRYPOINT, and runs the execution the way an operator does: `sfn-agent start --state-machine ARN
--input JSON`, which waits and prints the output the job wrote to $SFN_OUTPUT.

    python3 examples/image-convert/run.py [--bin ./sfn-agent] [--keep]

Needs ImageMagick (setup.sh installs it when run as root).
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "lab"))
import flow  # noqa: E402

JOB = os.path.join(HERE, "job.sh")
THUMB = (128, 128)

# name -> ImageMagick arguments that draw it: different sizes and shapes, so the thumbnails differ too.
IMAGES = {
	"sunset": ["-size", "800x600", "gradient:orange-navy"],
	"plasma": ["-size", "640x640", "plasma:fractal"],
	"banner": ["-size", "1200x300", "xc:teal", "-fill", "white", "-draw", "circle 600,150 600,40"],
	"portrait": ["-size", "300x900", "gradient:white-black"],
}


def imagemagick():
	"""The real ImageMagick `convert` (not just any program of that name), or a clear error.  Runs
	setup.sh first, which installs it when missing and run as root."""
	p = subprocess.run([os.path.join(HERE, "setup.sh")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
	if p.returncode != 0:
		raise RuntimeError(p.stderr.decode("utf-8", "replace").strip())
	try:
		p = subprocess.run(["convert", "-version"], capture_output=True, timeout=20)
		q = subprocess.run(["identify", "-version"], capture_output=True, timeout=20)
	except (OSError, subprocess.TimeoutExpired) as e:
		raise RuntimeError("examples/image-convert needs ImageMagick (%s): apt-get install imagemagick" % e)
	if p.returncode != 0 or b"ImageMagick" not in p.stdout or q.returncode != 0:
		raise RuntimeError("`convert` here is not ImageMagick's: apt-get install imagemagick")
	return p.stdout.decode().splitlines()[0]


def size_of(path):
	p = subprocess.run(["identify", "-format", "%w %h %m", path], capture_output=True, check=True)
	w, h, fmt = p.stdout.decode().split()
	return int(w), int(h), fmt


def run(lab, agent, stream, work):
	stream.header("the batch's input: PNG images made with ImageMagick")
	stream.line("images", imagemagick())
	in_dir, out_dir = os.path.join(work, "in"), os.path.join(work, "out")
	os.makedirs(in_dir)
	for name, args in IMAGES.items():
		path = os.path.join(in_dir, name + ".png")
		subprocess.run(["convert", *args, path], check=True, capture_output=True)
		stream.line("images", "%s %dx%d" % (path, *size_of(path)[:2]))

	stream.header("the state machine (from `sfn-agent template`)")
	sm, how = flow.state_machine(lab, agent, stream)

	stream.header("the batch: the operator starts it; ECS runs job.sh under sfn-agent")
	# What a task definition's "environment" would hold; the lab runs no image, so the input names the
	# job (in production it is the image's CMD and the input can be {}).
	env = {"IN_DIR": in_dir, "OUT_DIR": out_dir, "THUMB_SIZE": "%dx%d" % THUMB, "SFN_AGENT_HEARTBEAT": "5"}
	r = flow.workflow(lab, agent, sm, {"commands": [JOB]}, stream, env_extra=env)
	return {"result": r, "in_dir": in_dir, "out_dir": out_dir, "how": how,
		"inputs": {n: size_of(os.path.join(in_dir, n + ".png")) for n in IMAGES}}


def verify(out):
	"""Every input has a JPEG thumbnail that fits the box and keeps its shape, and the output lists them."""
	r = out["result"]
	if r.returncode != 0 or (r.execution or {}).get("status") != "SUCCEEDED":
		return ["the controller exited %s, the execution is %s" % (r.returncode, (r.execution or {}).get("status"))]
	o = r.output or {}
	problems = []
	want = sorted(os.path.join(out["out_dir"], n + ".jpg") for n in IMAGES)
	if o.get("converted") != len(IMAGES):
		problems.append("the output says %r converted, there were %d images" % (o.get("converted"), len(IMAGES)))
	if sorted(o.get("files") or []) != want:
		problems.append("the output lists %r, not %r" % (o.get("files"), want))
	on_disk = sorted(os.path.join(out["out_dir"], f) for f in os.listdir(out["out_dir"]))
	if on_disk != want:
		problems.append("the output directory holds %r" % on_disk)
	for name, (iw, ih, _) in out["inputs"].items():
		path = os.path.join(out["out_dir"], name + ".jpg")
		if not os.path.isfile(path):
			continue
		with open(path, "rb") as f:
			magic = f.read(3)
		w, h, fmt = size_of(path)
		if magic != b"\xff\xd8\xff" or fmt != "JPEG":
			problems.append("%s is not a JPEG (%s, %r)" % (path, fmt, magic))
		# Scaled to fit the box, keeping the aspect ratio (to a pixel of rounding).
		scale = min(THUMB[0] / iw, THUMB[1] / ih)
		if w > THUMB[0] or h > THUMB[1] or abs(w - iw * scale) > 1 or abs(h - ih * scale) > 1:
			problems.append("%s is %dx%d: not a %dx%d thumbnail of a %dx%d image" % (
				path, w, h, THUMB[0], THUMB[1], iw, ih))
	return problems


if __name__ == "__main__":
	sys.exit(flow.example_main(sys.argv[1:], __doc__, run, verify))
