# imgaug reads bundled assets (quokka image, fonts) by path and imports its augmenters lazily.
from PyInstaller.utils.hooks import collect_data_files, collect_submodules

datas = collect_data_files("imgaug")
hiddenimports = collect_submodules("imgaug")
