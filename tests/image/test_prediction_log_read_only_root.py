"""The prediction log on the image's read-only root, where SQLite has no temporary directory: a backlog drained a full
batch at a time is written (it used to fail with SQLITE_IOERR_GETTEMPPATH on every retry, and the writer stalled)."""

from tests.image.conftest import RUN_ID, TEST_LABEL

DRAIN_A_BACKLOG = """
import secrets, sqlite3, time
from pathlib import Path
from model_app.prediction_log import WRITE_BATCH, PredictionRecord, SqliteStore
store = SqliteStore(Path("/data/predictions.sqlite"))
store.connect()
for _ in range(10):
    store.write([PredictionRecord(secrets.token_hex(8), time.time(), "v", [{"mean_radius": 1.0}],
                                  [{"label": "benign"}], 0.1).as_row() for _ in range(WRITE_BATCH)])
store.close()
print(sqlite3.connect("/data/predictions.sqlite").execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
"""


def test_a_backlog_of_predictions_is_written_on_the_read_only_root(docker_client, image):
    output = docker_client.containers.run(
        image, ["python", "-c", DRAIN_A_BACKLOG], read_only=True, remove=True, labels={TEST_LABEL: RUN_ID},
        tmpfs={"/data": "rw,size=16m,uid=10001,gid=10001"}, stderr=True)
    assert output.decode().split()[-1] == "5000"
