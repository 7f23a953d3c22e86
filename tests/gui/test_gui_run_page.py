"""Run page: a real station loop on a hot folder, a tiny fitted model, results via Qt signals."""
import shutil

from inspector.cli.main import main
from inspector.pipeline import InspectionModel
from inspector.store.log import InspectionLog


def test_run_page_judges_three_parts_and_shows_states(qapp, qtbot, tmp_path, synthetic_category):
    from inspector.gui.pages.run import RunPage

    model_dir = tmp_path / "model"
    assert main(["fit", str(synthetic_category), "--out", str(model_dir), "--detector", "padim",
                 "--image-size", "64", "--quiet"]) == 0
    model = InspectionModel.load(model_dir)
    log = InspectionLog(tmp_path / "log.db")
    hot = tmp_path / "hot"
    hot.mkdir()
    page = RunPage()
    qtbot.addWidget(page)
    try:
        _drive(page, qtbot, model, log, hot, tmp_path, synthetic_category)
    finally:
        page.stop()
        qtbot.waitUntil(lambda: page.task is None, timeout=10_000)
        log.close()


def _drive(page, qtbot, model, log, hot, tmp_path, synthetic_category):
    page.configure(model, "disc", log, tmp_path / "station")
    page.folder_edit.setText(str(hot))
    assert not page.start(operator="  ")  # no operator: no run
    assert page.state == "ALARM" and page.task is None
    assert page.start(operator="alice")
    qtbot.waitUntil(lambda: page.state == "WAITING FOR PART", timeout=10_000)
    assert page.stop_button.isEnabled() and not page.start_button.isEnabled()
    for index, source in enumerate(sorted((synthetic_category / "test" / "good").glob("*.png"))):
        shutil.copy(source, hot / f"part-{index}.png")
    qtbot.waitUntil(lambda: page.counters.counts["parts"] == 3, timeout=30_000)
    assert page.verdict.verdict in ("PASS", "REVIEW", "FAIL")
    assert page.verdict.text() == page.verdict.verdict
    assert page.counters.values["parts"].text() == "3"
    assert len(page.strip.verdicts) == 3 and len(page.chart.scores) == 3
    assert "part-" in page.part_label.text()
    assert page.heatmap.has_map
    from inspector.io.images import load_image

    last_part = load_image(hot / "done" / "part-2.png")  # the display shows the part that was judged last
    assert (page.heatmap.base.image == last_part).all()
    assert log.count() == 3
    page.toggle_pause()
    qtbot.waitUntil(lambda: page.state == "PAUSED", timeout=10_000)
    assert page.pause_button.text() == "Resume"
    page.toggle_pause()
    qtbot.waitUntil(lambda: page.state == "WAITING FOR PART", timeout=10_000)
    page.stop()
    qtbot.waitUntil(lambda: page.task is None, timeout=10_000)
    assert page.state == "STOPPED" and page.start_button.isEnabled()
    seen = page.states_seen
    assert seen.index("RUNNING") < seen.index("PAUSED") < len(seen) - 1 and seen[-1] == "STOPPED"
    assert len(list((hot / "done").iterdir())) == 3
    page.counters.reset()
    assert page.counters.values["parts"].text() == "0" and page.counters.values["yield"].text() == "—"


def test_run_page_is_a_tab_and_refuses_without_a_model(window, qtbot, tmp_path):
    page = window.run_page
    assert window.tabs.indexOf(page) >= 0
    page.folder_edit.setText(str(tmp_path))
    assert not page.start(operator="bob")  # no project open: a clear ALARM, no run
    assert page.state == "ALARM" and "open a project" in page.state_label.text()
    assert page.task is None


def test_closing_the_task_stops_the_loop(qapp, qtbot, tmp_path):
    """Window shutdown cancels Tasks; the station loop must end on that, not only on Stop."""
    from inspector.gui.pages.run import RunPage
    from inspector.gui.workers import running_tasks
    from inspector.threshold import Threshold

    class Model:  # a real predictor signature with a trivial score (mean brightness)
        model_id, threshold = "m1", Threshold(fail=128.0)

        def predict(self, images):
            from inspector.pipeline import Prediction

            return [Prediction(float(i.mean()), None, self.threshold.verdict(float(i.mean()))) for i in images]

    page = RunPage()
    qtbot.addWidget(page)
    log = InspectionLog(tmp_path / "log.db")
    page.configure(Model(), "disc", log, tmp_path / "station")
    page.folder_edit.setText(str(tmp_path))
    assert page.start(operator="carol")
    qtbot.waitUntil(lambda: page.state == "WAITING FOR PART", timeout=10_000)
    for task in running_tasks():
        task.cancel()
    qtbot.waitUntil(lambda: page.task is None, timeout=10_000)
    assert page.state == "STOPPED"
    log.close()


def test_run_page_publishes_results_to_a_real_broker(qapp, qtbot, tmp_path):
    import importlib.util
    from pathlib import Path

    import numpy as np
    import pytest

    from inspector.gui.pages.run import RunPage
    from inspector.io.images import save_image
    from inspector.pipeline import Prediction
    from inspector.threshold import Threshold

    helpers_path = Path(__file__).parents[1] / "station" / "station_helpers.py"
    spec = importlib.util.spec_from_file_location("station_helpers", helpers_path)
    station_helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(station_helpers)
    if not Path(station_helpers.MOSQUITTO).exists():
        pytest.skip("mosquitto not installed")
    broker = station_helpers.Broker(tmp_path)
    broker.start()

    class Model:
        model_id, threshold = "m1", Threshold(fail=128.0)

        def predict(self, images):
            return [Prediction(float(i.mean()), None, self.threshold.verdict(float(i.mean()))) for i in images]

    received = []
    sub = station_helpers.start_subscriber(broker.port, "inspector/parts/#", "gui-sub",
                                            lambda topic, payload: received.append(payload))
    log = InspectionLog(tmp_path / "log.db")
    page = RunPage()
    qtbot.addWidget(page)
    try:
        page.configure(Model(), "disc", log, tmp_path / "station")
        page.folder_edit.setText(str(tmp_path))
        page.mqtt_edit.setText(f"127.0.0.1:{broker.port}")
        assert page.start(operator="dana")
        save_image(tmp_path / "part-7.png", np.full((8, 8, 3), 200, np.uint8))
        qtbot.waitUntil(lambda: len(received) == 1, timeout=15_000)
        assert received[0]["part_id"] == "part-7" and received[0]["verdict"] == "FAIL"
        assert received[0]["operator"] == "dana"
        qtbot.waitUntil(lambda: page.verdict.verdict == "FAIL", timeout=5_000)  # the queued signal may come later
    finally:
        page.stop()
        qtbot.waitUntil(lambda: page.task is None, timeout=10_000)
        sub.loop_stop()
        broker.stop()
        log.close()
    assert page.mqtt is None
