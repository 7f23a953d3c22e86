# faiss picks its SWIG extension at run time (generic / AVX2 / AVX-512) in faiss/loader.py, so
# every variant present and libfaiss must be collected explicitly.
from PyInstaller.utils.hooks import collect_dynamic_libs, collect_submodules

hiddenimports = collect_submodules("faiss", filter=lambda name: not name.startswith("faiss.contrib.torch"))
binaries = collect_dynamic_libs("faiss")
