"""Benchmark (legacy import, reading side): validate the program's size, 62,700 rows, from CSV and XLSX.

A script to run by hand, not a test. It writes three files of the same valid rows: a CSV (UTF-8,
semicolons, decimal commas), an XLSX as Excel writes it (shared strings, date cells) and an XLSX
as openpyxl writes it (inline strings). For each one, in a fresh process, it prints:

- the file's size and, for an XLSX, what it unpacks to;
- the seconds ``legacy.reading.validate_file`` takes: upload checks, zip directory, reading,
  header mapping, every row cleaned, duplicates within the file;
- the process's peak RSS and, in a second run under tracemalloc (which slows Python down, so it
  is not timed), the peak of Python allocations;
- for the XLSX files, the seconds openpyxl's read-only mode takes just to iterate the same sheet.

Lookups come from memory (the 16 alcaldías, 1,800 colonias, the years 2019–2025): the reading side
makes its three queries once, whatever the row count, so no database is needed here.

Usage (from the project root):

    .venv/bin/python benchmarks/legacy_validate.py                 # 62,700 rows
    .venv/bin/python benchmarks/legacy_validate.py --rows 10000 --keep var/bench-legacy
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = (6, 9, 8, 6, 7, 6, 9, 12)


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harvest.settings.test")
    import django

    django.setup()


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(kind: str, path: Path, traced: bool) -> dict:
    """Runs in the child process: one validate_file (or one openpyxl pass) on one file."""
    _setup()
    from legacy.reading import UploadLimits, validate_file
    from tests.legacy import files

    lookups = files.lookups(colonias=files.big_colonias())
    # The default limit (50 MB unpacked) refuses a 62,700-row XLSX; the benchmark measures reading it.
    limits = UploadLimits(max_unpacked_bytes=500 * 1024 * 1024)
    rss_before = _peak_rss_mb()
    if traced:
        tracemalloc.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    if kind == "openpyxl":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        rows = sum(1 for _row in workbook.worksheets[0].iter_rows(values_only=True)) - 1
        workbook.close()
        errors = 0
    else:
        clean, report = validate_file(path, lookups, limits=limits)
        rows, errors = report.rows, len(report.errors)
        assert len(clean) == rows, report.errors[:5]
    result = {"seconds": round(time.perf_counter() - started, 2), "cpu": round(time.process_time() - cpu_started, 2)}
    result |= {"rows": rows, "errors": errors, "rss_mb": round(_peak_rss_mb()), "rss_before_mb": round(rss_before)}
    if traced:
        result["python_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1024 / 1024, 1)
    return result


def _child(kind: str, path: Path, traced: bool) -> dict:
    command = [sys.executable, __file__, "--measure", kind, str(path)] + (["--traced"] if traced else [])
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)  # noqa: S603
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_files(folder: Path, count: int) -> dict[str, Path]:
    _setup()
    from tests.legacy import files

    rows = list(files.big_rows(count))
    written = {}
    started = time.perf_counter()
    written["csv"] = files.write_csv(folder / "padron.csv", rows, delimiter=";", encoding="utf-8-sig")
    written["xlsx (Excel-like)"] = files.write_raw_xlsx(folder / "padron-excel.xlsx", rows)
    written["xlsx (openpyxl)"] = files.write_xlsx(folder / "padron-openpyxl.xlsx", rows)
    print(f"files written in {time.perf_counter() - started:.1f} s")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=62_700)
    parser.add_argument("--keep", type=Path, help="write the files into this folder and keep them")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.measure[0], Path(arguments.measure[1]), arguments.traced)))
        return
    with tempfile.TemporaryDirectory() as temporary:
        folder = arguments.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        written = write_files(folder, arguments.rows)
        columns = ("MB", "unpacked", "seconds", "CPU s", "rows", "errors", "peak RSS", "Python peak")
        print(f"{'file':<20} " + " ".join(f"{name:>{width}}" for name, width in zip(columns, WIDTHS, strict=True)))
        for label, path in written.items():
            size = path.stat().st_size / 1024 / 1024
            unpacked = ""
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(path) as archive:
                    unpacked = f"{sum(entry.file_size for entry in archive.infolist()) / 1024 / 1024:.1f}"
            timed, traced = _child("validate", path, False), _child("validate", path, True)
            cells = (f"{size:.1f}", unpacked, timed["seconds"], timed["cpu"], timed["rows"], timed["errors"])
            cells += (f"{timed['rss_mb']} MB", f"{traced['python_peak_mb']} MB")
            note = f"   (RSS before validating: {timed['rss_before_mb']} MB)"
            print(f"{label:<20} " + " ".join(f"{cell:>{width}}" for cell, width in zip(cells, WIDTHS, strict=True)) + note)
            if path.suffix == ".xlsx":
                baseline = _child("openpyxl", path, False)
                label = "  openpyxl read-only"
                cells = ("", "", baseline["seconds"], baseline["cpu"], baseline["rows"], "", f"{baseline['rss_mb']} MB", "")
                print(f"{label:<20} " + " ".join(f"{cell:>{width}}" for cell, width in zip(cells, WIDTHS, strict=True)))


if __name__ == "__main__":
    main()
