"""Run-page set-up: where parts come from, where results go, and what triggers a part.

The panel only collects choices; `RunSetup` (a plain dataclass) carries them to the page, which opens
the source and outputs through the Qt-free station core (inspector.station.sources, mqtt_output,
opcua_server). GenICam devices are listed from the chosen GenTL producer (the `genicam` wheel's
viky.cti virtual cameras by default, or a user-given .cti).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLineEdit,
                               QPushButton, QSpinBox, QStackedWidget, QVBoxLayout, QWidget)

from inspector.types import InspectorError

HOTFOLDER, CAMERA, GENICAM = "hotfolder", "camera", "genicam"
FREE, SOFTWARE, OPCUA = "free", "software", "opcua"


@dataclass(frozen=True)
class RunSetup:
    """What the operator chose: a source spec (as `inspector run --source`), outputs and the trigger."""

    source: str
    device_index: int = 0
    mqtt: Optional[tuple[str, int, str]] = None  # host, port, topic prefix
    opcua: Optional[tuple[str, int]] = None  # host, port
    trigger: str = FREE


class RunSetupPanel(QWidget):
    """Source, outputs and trigger choices; `setup()` validates them into a RunSetup."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.source_kind = QComboBox()
        for label, kind in (("Hot folder", HOTFOLDER), ("OpenCV camera", CAMERA), ("GenICam camera", GENICAM)):
            self.source_kind.addItem(label, kind)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("parts arrive here as image files")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_folder)
        self.camera_index = QSpinBox()
        self.camera_index.setRange(0, 63)
        self.producer = QComboBox()
        self.producer.setToolTip("GenTL producer (.cti) of the camera's vendor; viky.cti gives virtual cameras")
        self.producer.currentIndexChanged.connect(lambda _index: self.device.clear())
        cti_browse = QPushButton("Other .cti…")
        cti_browse.clicked.connect(self._choose_cti)
        self.device = QComboBox()
        self.device.setToolTip("devices the producer enumerates (press Find)")
        find = QPushButton("Find")
        find.clicked.connect(self.find_devices)
        self.device_error = ""

        self.pages = QStackedWidget()
        self.pages.addWidget(_row(self.folder_edit, browse))
        self.pages.addWidget(_form(("Camera index", self.camera_index)))
        genicam = QWidget()
        box = QVBoxLayout(genicam)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(_row(self.producer, cti_browse))
        box.addWidget(_row(self.device, find))
        self.pages.addWidget(genicam)
        self.source_kind.currentIndexChanged.connect(self._on_kind)
        source_box = QGroupBox("Parts from")
        source_layout = QVBoxLayout(source_box)
        source_layout.addWidget(self.source_kind)
        source_layout.addWidget(self.pages)

        self.mqtt_on = QCheckBox("MQTT")
        self.mqtt_host = QLineEdit("127.0.0.1")
        self.mqtt_port = QSpinBox()
        self.mqtt_port.setRange(1, 65535)
        self.mqtt_port.setValue(1883)
        self.mqtt_topic = QLineEdit("inspector")
        self.mqtt_topic.setToolTip("topic prefix: parts on PREFIX/parts/<class>, status on PREFIX/station/status")
        self.opcua_on = QCheckBox("OPC UA server")
        self.opcua_host = QLineEdit("0.0.0.0")
        self.opcua_port = QSpinBox()
        self.opcua_port.setRange(1, 65535)
        self.opcua_port.setValue(4840)
        self.opcua_endpoint = QLineEdit()
        self.opcua_endpoint.setReadOnly(True)
        for widget in (self.opcua_host, self.opcua_port):
            (widget.textChanged if isinstance(widget, QLineEdit) else widget.valueChanged).connect(self._endpoint)
        self.opcua_on.toggled.connect(self._endpoint)
        outputs = QGroupBox("Results to")
        out_form = QFormLayout(outputs)
        out_form.addRow(self.mqtt_on, _row(self.mqtt_host, self.mqtt_port))
        out_form.addRow("Topic prefix", self.mqtt_topic)
        out_form.addRow(self.opcua_on, _row(self.opcua_host, self.opcua_port))
        out_form.addRow("Endpoint", self.opcua_endpoint)

        self.trigger = QComboBox()
        for label, kind in (("Free run: every part", FREE), ("Software trigger (button / Space)", SOFTWARE),
                            ("Trigger from OPC UA (PLC)", OPCUA)):
            self.trigger.addItem(label, kind)
        trigger_box = QGroupBox("Trigger")
        QVBoxLayout(trigger_box).addWidget(self.trigger)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (source_box, outputs, trigger_box):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.refresh_producers()
        self._endpoint()

    # -- choices ------------------------------------------------------------------------------
    def refresh_producers(self) -> None:
        """The bundled virtual-camera producer, the producers on GENICAM_GENTL64_PATH, and any added by hand."""
        import glob
        import os

        from inspector.station.frame_sources import bundled_producer

        known = {self.producer.itemData(i) for i in range(self.producer.count())}
        found = [str(p) for p in [bundled_producer()] if p]
        for folder in os.environ.get("GENICAM_GENTL64_PATH", "").split(os.pathsep):
            found += sorted(glob.glob(os.path.join(folder, "*.cti"))) if folder else []
        for path in found:
            if path not in known:
                self.add_producer(path)

    def add_producer(self, path: str) -> None:
        from pathlib import Path

        index = self.producer.findData(path)
        if index < 0:
            self.producer.addItem(Path(path).name, path)
            index = self.producer.count() - 1
        self.producer.setCurrentIndex(index)

    def find_devices(self) -> list[str]:
        """List the chosen producer's devices (a short, blocking GenTL enumeration)."""
        from inspector.station.frame_sources import list_genicam_devices

        self.device.clear()
        try:
            names = list_genicam_devices(self.producer.currentData())
        except InspectorError as exc:
            self.device_error = str(exc)
            self.device.setPlaceholderText(str(exc))
            return []
        self.device_error = "" if names else "the producer lists no device"
        for index, name in enumerate(names):
            self.device.addItem(name, index)
            self.device.setItemData(index, name, Qt.ItemDataRole.ToolTipRole)
        return names

    def set_source_kind(self, kind: str) -> None:
        self.source_kind.setCurrentIndex(self.source_kind.findData(kind))

    def set_trigger(self, kind: str) -> None:
        self.trigger.setCurrentIndex(self.trigger.findData(kind))

    def setup(self) -> RunSetup:
        """The choices as a RunSetup, or one clear InspectorError saying what is missing."""
        kind = self.source_kind.currentData()
        if kind == HOTFOLDER:
            folder = self.folder_edit.text().strip()
            if not folder:
                raise InspectorError("choose the hot folder the parts arrive in")
            source, device = f"hotfolder:{folder}", 0
        elif kind == CAMERA:
            source, device = f"camera:{self.camera_index.value()}", 0
        else:
            cti = self.producer.currentData()
            if not cti:
                raise InspectorError("no GenTL producer: install the 'camera' extra or choose a .cti file")
            if self.device.count() == 0 and not self.find_devices():
                raise InspectorError(f"no GenICam device: {self.device_error}")
            source, device = f"genicam:{cti}", int(self.device.currentData() or 0)
        mqtt = None
        if self.mqtt_on.isChecked():
            host = self.mqtt_host.text().strip()
            if not host:
                raise InspectorError("name the MQTT broker's host")
            mqtt = (host, self.mqtt_port.value(), self.mqtt_topic.text().strip().strip("/") or "inspector")
        opcua = (self.opcua_host.text().strip() or "0.0.0.0", self.opcua_port.value()) if self.opcua_on.isChecked() \
            else None
        trigger = self.trigger.currentData()
        if trigger == OPCUA and opcua is None:
            raise InspectorError("a trigger from OPC UA needs the OPC UA server on")
        return RunSetup(source, device, mqtt, opcua, trigger)

    # -- helpers ------------------------------------------------------------------------------
    def _on_kind(self, _index: int) -> None:
        self.pages.setCurrentIndex(self.source_kind.currentIndex())
        if self.source_kind.currentData() == GENICAM and self.device.count() == 0:
            self.find_devices()

    def _endpoint(self, *_args) -> None:
        on = self.opcua_on.isChecked()
        self.opcua_endpoint.setText(f"opc.tcp://{self.opcua_host.text().strip() or '0.0.0.0'}:"
                                    f"{self.opcua_port.value()}/inspector/" if on else "off")
        self.opcua_endpoint.setCursorPosition(0)  # the start of the URL, if it does not fit
        self.opcua_endpoint.setToolTip(self.opcua_endpoint.text())

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Hot folder")
        if folder:
            self.folder_edit.setText(folder)

    def _choose_cti(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "GenTL producer", "", "GenTL producer (*.cti)")
        if path:
            self.add_producer(path)


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget, 1 if isinstance(widget, (QLineEdit, QComboBox)) else 0)
    return row


def _form(*rows: tuple[str, QWidget]) -> QWidget:
    holder = QWidget()
    form = QFormLayout(holder)
    form.setContentsMargins(0, 0, 0, 0)
    for label, widget in rows:
        form.addRow(label, widget)
    return holder
