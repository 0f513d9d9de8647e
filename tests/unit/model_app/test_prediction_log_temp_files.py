"""The SQLite prediction log needs no temporary file: a release's root is read-only, so SQLite finds no temporary
directory (SQLITE_IOERR_GETTEMPPATH), and a batch whose statement journal outgrows memory (a few hundred rows, the
burst after any stall) failed again on every retry, for ever, while the queue filled."""

import subprocess
import sys
import textwrap
from pathlib import Path

from model_app.prediction_log import WRITE_BATCH

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]

WRITE_A_BURST = textwrap.dedent(f"""
    import secrets, sys, time
    from pathlib import Path
    from model_app.prediction_log import PredictionRecord, SqliteStore
    store = SqliteStore(Path(sys.argv[1]))
    store.connect()
    for _ in range(10):  # a backlog drained a full batch at a time
        store.write([PredictionRecord(secrets.token_hex(8), time.time(), "v", [{{"mean_radius": 1.0}}] * 30,
                                      [{{"label": "benign"}}] * 30, 0.1).as_row() for _ in range({WRITE_BATCH})])
    store.close()
""")


def test_a_burst_of_predictions_is_written_without_any_temporary_file(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    before = temporary.stat()
    # SQLite reads SQLITE_TMPDIR once per process, hence a process of its own; a temporary file, created and unlinked
    # at once, shows only in its directory's times.
    result = subprocess.run([sys.executable, "-c", WRITE_A_BURST, str(tmp_path / "predictions.sqlite")],
                            env={"SQLITE_TMPDIR": str(temporary), "PATH": "/usr/bin:/bin"}, cwd=REPOSITORY_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    after = temporary.stat()
    assert (after.st_mtime_ns, after.st_ctime_ns) == (before.st_mtime_ns, before.st_ctime_ns), \
        "SQLite created a temporary file: on a read-only root that write fails"
