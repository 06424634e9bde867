"""Only what pyproject.toml cannot declare: the cffi module (cffi issue #55) and shipping the C header."""
import glob, os, shutil
from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithHeaders(build_py):
    """Copy csrc/include/*.h into the package so ipuexplore.get_include() works when installed."""

    def run(self):
        super().run()
        dest = os.path.join(self.build_lib, "ipuexplore", "include")
        os.makedirs(dest, exist_ok=True)
        for header in glob.glob(os.path.join("csrc", "include", "*.h")):
            shutil.copy(header, dest)


setup(cffi_modules=["build.py:ffibuilder"], cmdclass={"build_py": BuildPyWithHeaders})
