"""The benchmark command runs and writes its table (timings themselves are not asserted)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_its_results(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--no-peers"]
    cmd += ["--only", "mse value", "--repeats", "1", "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    table = (tmp_path / "results.md").read_text()
    assert "3-stream reference" in table
    rows = [line for line in table.splitlines() if line.startswith("| mse value")]
    assert len(rows) == 4  # value and value+grad, float64 and float32
    assert (tmp_path / "results.json").exists()
