"""The ways users install the CLI, each done here as a user would: `pip install` of the wheel
(maturin, bindings = "bin") into a fresh virtual environment, and `cargo install --locked` from the
repository. Both build with the dev profile into this clone's target folder (the same code as a
release build, without its LTO, so the test reuses the build the suite already made)."""

import os
import subprocess
import sys

from conftest import ROOT

VERSION = next(line.split('"')[1] for line in (ROOT / "Cargo.toml").read_text().splitlines()
               if line.startswith("version = "))


def runs_the_quick_start(exe, tmp_path):
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"ctparquet {VERSION}"
    out = subprocess.run([str(exe), "convert", ROOT / "examples/sample-trail", tmp_path / "out", "--from",
                          "2026-01-04", "--to", "2026-01-05", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert list((tmp_path / "out").rglob("*.parquet"))


def test_pip_install_of_the_wheel_gives_the_command(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([str(ROOT / ".venv" / "bin" / "maturin"), "build", "--profile", "dev", "--locked", "--out",
                    str(wheels)], cwd=ROOT, check=True, capture_output=True)
    (wheel,) = wheels.glob(f"ctparquet-{VERSION}-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
                    "--disable-pip-version-check", str(wheel)], check=True)
    runs_the_quick_start(venv / "bin" / "ctparquet", tmp_path)


def test_cargo_install_locked_from_the_repository(tmp_path):
    env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target"))
    root = tmp_path / "cargo-root"
    out = subprocess.run(["cargo", "install", "--locked", "--debug", "--path", str(ROOT / "crates/ctparquet-cli"),
                          "--root", str(root)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    runs_the_quick_start(root / "bin" / "ctparquet", tmp_path)
