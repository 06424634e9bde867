"""Only what pyproject.toml cannot declare: the cffi module (cffi issue #55), and the files
embedders use, shipped inside the package: include/ipx.h, lib/libipx.a, lib/libipx.so.0 (with
its SONAME), lib/pkgconfig/ipx.pc and lib/cmake/ipx/ (see ``ipuexplore-config``).

The engine's C sources (build.py's SOURCES, every csrc/src/*.c) are compiled once; the
extension module and both libraries link the same objects.
"""
import importlib.util
import os
import re
import shutil

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
# Load build.py by path: the build backend does not put this directory on sys.path, and the
# name "build" would otherwise be PyPA's package.
_spec = importlib.util.spec_from_file_location("_ipx_build", os.path.join(HERE, "build.py"))
_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_build)


def _library_version() -> tuple[str, str]:
    """("MAJOR.MINOR.PATCH", "libipx.so.MAJOR") from the header's version macros."""
    with open(os.path.join(HERE, "csrc", "include", "ipx.h")) as f:
        header = f.read()
    parts = [re.search(rf"^#define IPX_VERSION_{p} (\d+)$", header, re.M).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts), f"libipx.so.{parts[0]}"


class BuildExtWithLibraries(build_ext):
    def build_extensions(self):
        # self.compiler exists from here on (build_ext.run made it)
        objects = self.compiler.compile(_build.SOURCES, output_dir=os.path.join(self.build_temp, "libipx"),
                                        include_dirs=_build.INCLUDE_DIRS, extra_postargs=_build.CFLAGS + ["-fPIC"])
        ext = next(e for e in self.extensions if e.name == "ipuexplore._ipx")
        # cffi put the engine's sources after its generated module: link their objects instead
        ext.sources = [src for src in ext.sources if src not in _build.SOURCES]
        ext.extra_objects = list(ext.extra_objects or []) + objects
        super().build_extensions()
        self.install_embedding_files(os.path.join(self.build_lib, "ipuexplore"), objects)

    def run(self):
        super().run()  # builds into build_lib; with --inplace (editable installs) copies the module back
        if self.inplace:  # the embedding files too
            package = self.get_finalized_command("build_py").get_package_dir("ipuexplore")
            for folder in ("lib", "include"):
                self.copy_tree(os.path.join(self.build_lib, "ipuexplore", folder), os.path.join(package, folder))

    def install_embedding_files(self, package: str, objects: list[str]) -> None:
        version, soname = _library_version()
        lib = os.path.join(package, "lib")
        compiler = self.compiler
        compiler.create_static_lib(objects, "ipx", output_dir=lib)
        compiler.link_shared_object(objects, soname, output_dir=lib, libraries=["m"],
                                    extra_postargs=["-pthread", f"-Wl,-soname,{soname}"])
        os.makedirs(os.path.join(package, "include"), exist_ok=True)
        shutil.copy(os.path.join(HERE, "csrc", "include", "ipx.h"), os.path.join(package, "include"))
        templates = os.path.join(HERE, "csrc", "packaging")
        for name, folder in (("ipx.pc", "pkgconfig"), ("ipxConfig.cmake", "cmake/ipx"),
                             ("ipxConfigVersion.cmake", "cmake/ipx")):
            with open(os.path.join(templates, name + ".in")) as f:
                text = f.read().replace("@VERSION@", version).replace("@SONAME@", soname)
            os.makedirs(os.path.join(lib, folder), exist_ok=True)
            with open(os.path.join(lib, folder, name), "w") as f:
                f.write(text)


setup(cffi_modules=["build.py:ffibuilder"], cmdclass={"build_ext": BuildExtWithLibraries})
