# Replaces the contrib hook: recent torchvision ships its ops as `_C_stable.so` (earlier `_C.so`)
# and loads them by path through torch.ops.load_library, so the extension files are collected as
# binaries into torchvision/, and the sources travel along (TorchScript reads them).
from PyInstaller.utils.hooks import collect_dynamic_libs

module_collection_mode = "pyz+py"
binaries = collect_dynamic_libs("torchvision", search_patterns=["*.so", "*.pyd", "*.dll", "*.dylib"])
