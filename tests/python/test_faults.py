"""A day is replaced whole or not at all, as readers see it: a conversion killed with SIGKILL at
several points, and two conversions of the same day at once. After each, every day of the
destination is wholly the old one or wholly the new one for pyarrow.dataset and DuckDB, `verify`
agrees with what readers see, and a re-run gives the byte-identical day with no debris left."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time

import duckdb
import pyarrow.dataset as ds
import pytest

from conftest import BIN

DAY = "2026-03-10"


def ctparquet(*args, check=True):
    out = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"ctparquet {args} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def fingerprint(dest):
    """{relative path: sha256} of every file under dest (staging files and hidden ones too)."""
    out = {}
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        out[path.relative_to(dest).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def days_as_readers_see_them(dest):
    """{(account, region, day): rows} through pyarrow.dataset and DuckDB (they must agree)."""
    dataset = ds.dataset(dest, format="parquet", partitioning="hive")
    table = dataset.to_table(columns=["eventID"])
    rows = len(table)
    seen = duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{dest}/**/*.parquet', hive_partitioning = true)").fetchone()[0]
    assert seen == rows
    return rows


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """An old and a new source of the same day (the new one has a late delivery more), each
    converted once into a reference destination."""
    base = tmp_path_factory.mktemp("faults")
    old, new = base / "old", base / "new"
    ctparquet("gen", old, "--accounts", "111122223333", "--regions", "us-east-1,eu-west-1", "--start", DAY,
              "--days", 2, "--files-per-day", 96, "--events-per-file", 150, "--seed", 7)
    shutil.copytree(old, new)
    ctparquet("gen", base / "more", "--accounts", "111122223333", "--regions", "us-east-1,eu-west-1",
              "--start", DAY, "--days", 1, "--files-per-day", 24, "--events-per-file", 150, "--seed", 8)
    for f in (base / "more").rglob("*.json.gz"):
        target = new / f.relative_to(base / "more")
        target = target.with_name("late-" + target.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    refs = {}
    for layout, extra in LAYOUTS.items():
        for name, src in (("old", old), ("new", new)):
            dest = base / f"ref-{name}-{layout}"
            ctparquet("convert", src, dest, "--date", DAY, *extra)
            refs[(name, layout)] = fingerprint(dest)
        assert refs[("old", layout)] != refs[("new", layout)]
    assert max(len(refs[("new", "parts")]), len(refs[("old", "parts")])) >= 2 * len(refs[("new", "one")])
    return {"base": base, "old": old, "new": new, "refs": refs}


# A day as one file (the default: one atomic put) and as several parts (a commit protocol).
LAYOUTS = {"one": [], "parts": ["--target-file-size", "64KiB", "--row-group-rows", "2000"]}


def day_folders(fp):
    """{day folder: {part name: digest}} of a fingerprint's part files."""
    out = {}
    for key, digest in only_part_files(fp).items():
        folder, name = key.rsplit("/", 1)
        out.setdefault(folder, {})[name] = digest
    return out


def only_part_files(fp):
    return {k: v for k, v in fp.items() if k.endswith(".parquet") and "/." not in k}


# Kill points: early (listing, reading), mid-run (decoding, spilling), late (encoding, publishing).
# A several-part day's own windows (pending uploads, the switch) are hit deterministically by the
# Rust tests (crates/ctparquet/tests/publish.rs); here two points check it end to end.
KILLS = [("one", after) for after in (0.05, 0.3, 0.8, 1.5, 3.0)] + [("parts", after) for after in (0.8, 3.0)]


@pytest.mark.parametrize("layout,after", KILLS)
def test_a_run_killed_at_any_point_leaves_each_day_old_or_new(trees, tmp_path, after, layout):
    extra = LAYOUTS[layout]
    old, new = trees["refs"][("old", layout)], trees["refs"][("new", layout)]
    dest, work = tmp_path / "lake", tmp_path / "work"
    # The old day as its reference conversion wrote it (converting it again costs a debug run).
    shutil.copytree(trees["base"] / f"ref-old-{layout}", dest)
    assert fingerprint(dest) == old
    proc = subprocess.Popen([str(BIN), "convert", trees["new"], dest, "--date", DAY, "--work-dir", work,
                             "--memory-budget", "8MiB", *extra], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    now = fingerprint(dest)
    # Day by day: all the old parts or all the new ones, never a mix, never a truncated file;
    # except for a day killed inside its switch, which its commit record marks.
    interrupted = {k.rsplit("/", 1)[0] for k in now if k.endswith("/_ctparquet.commit")}
    for folder, parts in day_folders(now).items():
        if folder not in interrupted:
            assert parts in (day_folders(old)[folder], day_folders(new)[folder]), folder
    # Killed inside a local put (a window of milliseconds), the staging file of that put stays
    # until the next run: verify names it; pyarrow.dataset would trip on it until then.
    staging = [p for p in dest.rglob("*") if "#" in p.name]
    for region in ("us-east-1", "eu-west-1"):
        results = [ctparquet("verify", src, dest, "--date", DAY, "--regions", region, check=False)
                   for src in (trees["old"], trees["new"])]
        # verify looks at the region it is given: debris of the other region's day is not its.
        here = f"region={region}/"
        staged_here = [p for p in staging if here in p.as_posix()]
        interrupted_here = [f for f in interrupted if here in f + "/"]
        if staged_here or interrupted_here:
            assert all(r.returncode == 3 for r in results), (region, [r.stdout for r in results])
            named = [p.name for p in staged_here] + ["_ctparquet.commit"] * bool(interrupted_here)
            assert any(n in results[0].stdout for n in named), results[0].stdout
        else:
            # verify agrees with one of the two sources for each day it checks.
            assert 0 in [r.returncode for r in results], (region, [r.stdout for r in results])
    if not staging:
        days_as_readers_see_them(dest)
    # A re-run finishes the job: byte-identical to a clean conversion, no debris in DEST (a
    # killed run's lease and pending parts included) or in the work folder.
    ctparquet("convert", trees["new"], dest, "--date", DAY, "--work-dir", work, *extra)
    assert fingerprint(dest) == new
    days_as_readers_see_them(dest)
    assert not any(p.name.startswith("ctparquet-") for p in work.iterdir()) if work.exists() else True


@pytest.mark.parametrize("layout", LAYOUTS)
def test_two_runs_of_one_day_at_once_leave_a_whole_day(trees, tmp_path, layout):
    extra = LAYOUTS[layout]
    old, new = trees["refs"][("old", layout)], trees["refs"][("new", layout)]
    dest = tmp_path / "lake"
    shutil.copytree(trees["base"] / f"ref-old-{layout}", dest)
    # The new source has more events, so whichever run publishes last, nothing is kept back by
    # the shrink guard: --allow-shrink lets the old one win too.
    runs = [subprocess.Popen([str(BIN), "convert", src, dest, "--date", DAY, "--allow-shrink", *extra],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for src in (trees["new"], trees["old"])]
    for run in runs:
        _, err = run.communicate()
        assert run.returncode == 0, err
    now = fingerprint(dest)
    # No lease, pending part or commit record left; each day wholly one run's.
    assert set(now) == set(only_part_files(now)), sorted(now)
    for folder, parts in day_folders(now).items():
        assert parts in (day_folders(old)[folder], day_folders(new)[folder]), folder
    days_as_readers_see_them(dest)


@pytest.fixture(scope="module")
def upgraded(trees):
    """The new one-file day of `trees`, upgraded into JSON-typed columns: (text lake, fingerprint
    of the upgraded lake)."""
    text = trees["base"] / "ref-new-one"
    lake = trees["base"] / "ref-upgraded"
    shutil.copytree(text, lake)
    ctparquet("upgrade", lake, "--json-columns", "json")
    assert fingerprint(lake) != fingerprint(text)
    return text, fingerprint(lake)


# An upgrade rewrites the only copy of a day (its JSON expired): killed anywhere, each day is the
# old one or the upgraded one, and the re-run finishes the job.
@pytest.mark.parametrize("after", [0.05, 0.3, 0.8, 1.5, 3.0])
def test_an_upgrade_killed_at_any_point_leaves_each_day_old_or_upgraded(upgraded, tmp_path, after):
    text, new = upgraded
    dest, work = tmp_path / "lake", tmp_path / "work"
    shutil.copytree(text, dest)
    old = fingerprint(dest)
    proc = subprocess.Popen([str(BIN), "upgrade", dest, "--json-columns", "json", "--work-dir", work],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    now = fingerprint(dest)
    for folder, parts in day_folders(now).items():
        assert parts in (day_folders(old)[folder], day_folders(new)[folder]), folder
    if not any("#" in p.name for p in dest.rglob("*")):
        days_as_readers_see_them(dest)
    ctparquet("upgrade", dest, "--json-columns", "json", "--work-dir", work)
    assert fingerprint(dest) == new
    days_as_readers_see_them(dest)
    assert not any(p.name.startswith("ctparquet-") for p in work.iterdir())
