"""Only what pyproject.toml cannot declare: the cffi module (cffi issue #55), plus shipping
the C header and a static libipx.a inside the package for embedders (get_include(),
get_library_dir())."""
import glob
import importlib.util
import os
import shutil

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

# Load build.py by path: the build backend does not put this directory on sys.path, and the
# name "build" would otherwise be PyPA's package.
_spec = importlib.util.spec_from_file_location("_ipx_build", os.path.join(os.path.dirname(os.path.abspath(__file__)), "build.py"))
_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_build)
CFLAGS, SOURCES = _build.CFLAGS, _build.SOURCES


class BuildPyWithHeaders(build_py):
    def run(self):
        super().run()
        dest = os.path.join(self.build_lib, "ipuexplore", "include")
        os.makedirs(dest, exist_ok=True)
        for header in glob.glob(os.path.join("csrc", "include", "*.h")):
            shutil.copy(header, dest)


class BuildExtWithStaticLib(build_ext):
    def run(self):
        super().run()
        # Next to the extension module, so both normal and in-place (editable) builds work.
        dest = os.path.join(os.path.dirname(self.get_ext_fullpath("ipuexplore._ipx")), "lib")
        objects = self.compiler.compile(
            SOURCES, output_dir=os.path.join(self.build_temp, "libipx"),
            include_dirs=[os.path.join("csrc", "include")], extra_postargs=CFLAGS + ["-fPIC"])
        self.compiler.create_static_lib(objects, "ipx", output_dir=dest)


setup(cffi_modules=["build.py:ffibuilder"],
      cmdclass={"build_py": BuildPyWithHeaders, "build_ext": BuildExtWithStaticLib})
