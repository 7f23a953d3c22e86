"""The desktop application (PySide6 + pyqtgraph): the only package that imports Qt.

Entry point: `inspector.gui.app.run_gui(argv)`.
"""
