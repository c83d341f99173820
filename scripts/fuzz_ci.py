"""Runs each libFuzzer target of fuzz/ for a bounded time and writes a JUnit report.

usage: fuzz_ci.py BUILD_DIR JUNIT_XML [SECONDS_PER_TARGET]

Targets run side by side, one per core (each is single-threaded).

Each target starts from its seed corpus (fuzz/corpus/<target>/, read only; new inputs go
to a scratch directory) with its dictionary when there is one. Any crash, sanitizer
report, leak, timeout (-timeout) or out-of-memory makes the target's test case fail,
with the end of libFuzzer's output and the reproducer's path in the report.
"""
import base64
import concurrent.futures
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parent.parent


def targets(build: pathlib.Path) -> dict:
    """Every fuzz_<name> the build made (fuzz/CMakeLists.txt), with fuzz/<name>.dict."""
    return {p.name: p.name.removeprefix("fuzz_") + ".dict"
            for p in sorted((build / "fuzz").glob("fuzz_*")) if p.is_file()}


def run(build: pathlib.Path, name: str, dict_name: str, seconds: int, scratch: pathlib.Path):
    binary = build / "fuzz" / name
    work = scratch / name
    work.mkdir(parents=True)
    cmd = [str(binary), f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
           "-print_final_stats=1", f"-artifact_prefix={scratch}/{name}-",
           str(work), str(ROOT / "fuzz" / "corpus" / name)]
    if dict_name and (ROOT / "fuzz" / dict_name).exists():
        cmd.insert(1, f"-dict={ROOT / 'fuzz' / dict_name}")
    started = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                           timeout=seconds + 120)
        rc, out = p.returncode, p.stderr + p.stdout
    except FileNotFoundError:
        rc, out = -1, f"{binary} not found (build the peyk_fuzzers target)"
    except subprocess.TimeoutExpired as e:
        rc, out = -2, f"did not stop after {seconds + 120} s\n{e.stderr or ''}"
    elapsed = time.monotonic() - started
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", out, re.M))
    last = re.findall(r"^#\d+\s+(?:DONE|pulse|NEW|REDUCE).*$", out, re.M)
    summary = (f"{name}: {stats.get('number_of_executed_units', '?')} execs, "
               f"{stats.get('average_exec_per_sec', '?')} exec/s, "
               f"{last[-1] if last else 'no status line'}")
    return rc, out, elapsed, summary


def main() -> int:
    build, junit = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2])
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    suite = ET.Element("testsuite", name="fuzz")
    failures = 0
    found = targets(build)
    if not found:
        print(f"no fuzz targets in {build}/fuzz (build the peyk_fuzzers target)")
        return 1
    with tempfile.TemporaryDirectory(prefix="peyk-fuzz-") as tmp:
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            runs = {name: pool.submit(run, build, name, d, seconds, pathlib.Path(tmp))
                    for name, d in found.items()}
            for name, fut in runs.items():
                rc, out, elapsed, summary = fut.result()
                case = ET.SubElement(suite, "testcase", classname="fuzz", name=name,
                                     time=f"{elapsed:.1f}")
                print(("ok   " if rc == 0 else "FAIL ") + summary, flush=True)
                if rc != 0:
                    failures += 1
                    tail = "\n".join(out.splitlines()[-80:])
                    for art in sorted(pathlib.Path(tmp).glob(f"{name}-*")):
                        tail += f"\nreproducer: {art.name} base64 " + \
                            base64.b64encode(art.read_bytes()[:4096]).decode()
                    ET.SubElement(case, "failure", message=f"exit code {rc}").text = tail
                    print(tail, flush=True)
                ET.SubElement(case, "system-out").text = summary
    suite.set("tests", str(len(found)))
    suite.set("failures", str(failures))
    junit.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(junit, encoding="utf-8", xml_declaration=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
