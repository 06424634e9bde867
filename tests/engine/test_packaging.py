"""The C library as embedders get it: `make -C csrc install` and the wheel's copy (through
`ipuexplore-config`), each used by a program built only from pkg-config's flags and by one
built with CMake's find_package(ipx); both must run without LD_LIBRARY_PATH."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "csrc" / "include" / "ipx.h"

PROGRAM = r"""
#include <stdio.h>
#include <ipx.h>
int main(void) {
    ipx_pool_t pool = NULL;
    ipx_pool_desc pd = {0};
    pd.workers = 2;
    if (ipx_pool_create(&pd, &pool) != IPX_STATUS_SUCCESS) return 1;
    ipx_conv_desc d = {0};
    d.n = 1; d.c = 4; d.h = 5; d.w = 5; d.k = 4; d.r = 3; d.s = 3; d.g = 4;  /* depthwise 3x3 */
    d.stride_h = d.stride_w = d.dilation_h = d.dilation_w = 1;
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
    float w[36], x[100], y[100];
    for (int i = 0; i < 36; i++) w[i] = 1.0f;
    for (int i = 0; i < 100; i++) x[i] = 1.0f;
    ipx_conv_t conv = NULL;
    ipx_status st = ipx_conv_create(&d, w, 36, NULL, 0, &conv);
    if (st == IPX_STATUS_SUCCESS) st = ipx_conv_run(conv, pool, x, 100, y, 100);
    printf("ipx %s %u: %s corner=%g centre=%g\n", ipx_version_string(), (unsigned)ipx_version(),
           ipx_status_string(st), y[0], y[12]);
    ipx_conv_destroy(conv);
    ipx_pool_destroy(pool);
    return st != IPX_STATUS_SUCCESS || y[0] != 4.0f || y[12] != 9.0f || ipx_version() != IPX_VERSION;
}
"""

CMAKELISTS = """
cmake_minimum_required(VERSION 3.16)
project(ipx_consumer C)
find_package(ipx {version} REQUIRED)
add_executable(prog_shared prog.c)
target_link_libraries(prog_shared PRIVATE ipx::ipx)
add_executable(prog_static prog.c)
target_link_libraries(prog_static PRIVATE ipx::ipx_static)
"""


def header_version() -> str:
    text = HEADER.read_text()
    return ".".join(re.search(rf"^#define IPX_VERSION_{p} (\d+)$", text, re.M).group(1)
                    for p in ("MAJOR", "MINOR", "PATCH"))


def api_names() -> set[str]:
    """Functions the header declares IPX_API."""
    return set(re.findall(r"^IPX_API\s[^;(]*?\b(ipx_\w+)\(", HEADER.read_text(), re.M))


def need(*tools):
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PKG_CONFIG_PATH", "CMAKE_PREFIX_PATH")}
    env.update(extra)
    return env


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def check_program(exe: Path):
    out = run([str(exe)], env=clean_env())
    major, minor, patch = map(int, header_version().split("."))
    assert f"ipx {header_version()} {major * 10000 + minor * 100 + patch}: success corner=4 centre=9" in out


@pytest.fixture(scope="module")
def make_install(csrc_built, tmp_path_factory):
    need("make", "cc")
    # the libraries conftest's csrc_built made (-O0: these tests check how the library is
    # packaged, not how fast it runs), installed
    prefix = tmp_path_factory.mktemp("make") / "prefix"
    run(["make", "-s", "-C", str(csrc_built), "install", f"PREFIX={prefix}", "CFLAGS=-O0"])
    return csrc_built.parent, prefix


def test_make_install_lays_out_a_prefix(make_install):
    _, prefix = make_install
    for rel in ("include/ipx.h", "lib/libipx.a", "lib/libipx.so.0", "lib/libipx.so", "lib/pkgconfig/ipx.pc",
                "lib/cmake/ipx/ipxConfig.cmake", "lib/cmake/ipx/ipxConfigVersion.cmake"):
        assert (prefix / rel).exists(), rel
    assert os.readlink(prefix / "lib" / "libipx.so") == "libipx.so.0"


def test_shared_library_has_its_soname_and_exports_only_the_api(make_install):
    need("readelf", "nm")
    work, _ = make_install
    lib = work / "csrc" / "out" / "libipx.so.0"
    assert "Library soname: [libipx.so.0]" in run(["readelf", "-d", str(lib)])
    exported = {line.split()[-1] for line in run(["nm", "-D", "--defined-only", str(lib)]).splitlines()
                if line.split()[-2:-1] == ["T"]}
    assert exported == api_names()


def pkg_config_build(pcdir: Path, tmp_path: Path) -> Path:
    need("pkg-config", "cc")
    env = clean_env(PKG_CONFIG_PATH=str(pcdir))
    flags = run(["pkg-config", "--cflags", "--libs", "ipx"], env=env).split()
    assert run(["pkg-config", "--modversion", "ipx"], env=env).strip() == header_version()
    (tmp_path / "prog.c").write_text(PROGRAM)
    exe = tmp_path / "prog"
    run(["cc", "-std=c11", str(tmp_path / "prog.c"), *flags, "-o", str(exe)])
    return exe


def cmake_build(cmake_dir: Path, tmp_path: Path) -> Path:
    need("cmake", "cc")
    major_minor = ".".join(header_version().split(".")[:2])
    (tmp_path / "prog.c").write_text(PROGRAM)
    (tmp_path / "CMakeLists.txt").write_text(CMAKELISTS.format(version=major_minor))
    build = tmp_path / "build"
    run(["cmake", "-S", str(tmp_path), "-B", str(build), f"-Dipx_DIR={cmake_dir}"], env=clean_env())
    run(["cmake", "--build", str(build)], env=clean_env())
    return build


def test_pkg_config_program_from_make_install(make_install, tmp_path):
    _, prefix = make_install
    check_program(pkg_config_build(prefix / "lib" / "pkgconfig", tmp_path))


def test_cmake_find_package_from_make_install(make_install, tmp_path):
    _, prefix = make_install
    build = cmake_build(prefix / "lib" / "cmake" / "ipx", tmp_path)
    check_program(build / "prog_shared")
    check_program(build / "prog_static")


def test_cmake_refuses_another_major_version(make_install, tmp_path):
    need("cmake", "cc")
    _, prefix = make_install
    (tmp_path / "prog.c").write_text(PROGRAM)
    (tmp_path / "CMakeLists.txt").write_text(CMAKELISTS.format(version="99.0"))
    proc = subprocess.run(["cmake", "-S", str(tmp_path), "-B", str(tmp_path / "b"),
                           f"-Dipx_DIR={prefix / 'lib' / 'cmake' / 'ipx'}"], capture_output=True, text=True,
                          env=clean_env())
    assert proc.returncode != 0 and "99.0" in proc.stderr


def config(*args):
    # from /, so that -m finds the installed package, not the checkout in the working directory
    return run([sys.executable, "-m", "ipuexplore.embed", *args], cwd="/").strip()


@pytest.fixture(scope="module")
def package_files():
    from ipuexplore import embed

    try:
        embed.shared_library()
    except FileNotFoundError as exc:
        pytest.fail(f"{exc} (an install from before the package shipped them: `pip install -e .`)")
    return embed


def test_ipuexplore_config_prints_flags_and_dirs(package_files):
    lib = package_files.library_dir()
    assert config("--cflags") == f"-I{package_files.include_dir()}"
    assert config("--libs") == f"-L{lib} -Wl,-rpath,{lib} -l:libipx.so.0"
    assert Path(config("--pkgconfigdir"), "ipx.pc").exists()
    assert Path(config("--cmakedir"), "ipxConfig.cmake").exists()
    assert config("--version") == header_version()
    assert subprocess.run([sys.executable, "-m", "ipuexplore.embed"], capture_output=True, cwd="/").returncode == 2


def test_pkg_config_program_from_the_package(package_files, tmp_path):
    check_program(pkg_config_build(Path(config("--pkgconfigdir")), tmp_path))


def test_cmake_find_package_from_the_package(package_files, tmp_path):
    build = cmake_build(Path(config("--cmakedir")), tmp_path)
    check_program(build / "prog_shared")
    check_program(build / "prog_static")


def test_program_built_from_ipuexplore_config_flags_alone(package_files, tmp_path):
    need("cc")
    (tmp_path / "prog.c").write_text(PROGRAM)
    exe = tmp_path / "prog"
    run(["cc", "-std=c11", str(tmp_path / "prog.c"), *config("--cflags", "--libs").split(), "-o", str(exe)])
    check_program(exe)


def test_python_engine_reports_the_header_version(package_files):
    from ipuexplore._ipx import ffi, lib

    assert lib.ipx_version() == lib.IPX_VERSION
    assert ffi.string(lib.ipx_version_string()).decode() == header_version()


DESCRIPTOR_VERSIONS = r"""
#include <stdio.h>
#include <ipx.h>
/* what a program compiled against a later header, with one more field, passes */
typedef struct { ipx_conv_desc d; uint64_t later_field; } later_conv_desc;
typedef struct { ipx_pool_desc d; uint64_t later_field; } later_pool_desc;
#define CHECK(call, want) do { ipx_status st_ = (call); if (st_ != (want)) { \
    printf("line %d: %s gave %s\n", __LINE__, #call, ipx_status_string(st_)); return 1; } } while (0)
int main(void) {
    ipx_conv_desc d = {0};
    d.n = 1; d.c = 4; d.h = 5; d.w = 5; d.k = 4; d.r = 3; d.s = 3; d.g = 4;
    d.stride_h = d.stride_w = d.dilation_h = d.dilation_w = 1;
    int64_t p, q;
    CHECK(ipx_conv_output_size(&d, &p, &q), IPX_STATUS_SUCCESS);   /* 0: this header's size */
    d.struct_size = sizeof d;
    CHECK(ipx_conv_output_size(&d, &p, &q), IPX_STATUS_SUCCESS);
    d.struct_size = 8;                                               /* no version was this small */
    CHECK(ipx_conv_output_size(&d, &p, &q), IPX_STATUS_UNSUPPORTED);
    later_conv_desc later = {0};
    later.d = d;
    later.d.struct_size = sizeof later;                              /* a later field, left zero */
    CHECK(ipx_conv_output_size(&later.d, &p, &q), IPX_STATUS_SUCCESS);
    later.later_field = 1;                                           /* a later feature, asked for */
    CHECK(ipx_conv_output_size(&later.d, &p, &q), IPX_STATUS_UNSUPPORTED);
    float w[36] = {0};
    ipx_conv_t conv = NULL;
    CHECK(ipx_conv_create(&later.d, w, 36, NULL, 0, &conv), IPX_STATUS_UNSUPPORTED);
    later.later_field = 0;
    CHECK(ipx_conv_create(&later.d, w, 36, NULL, 0, &conv), IPX_STATUS_SUCCESS);
    ipx_conv_destroy(conv);

    later_pool_desc lp = {0};
    lp.d.struct_size = sizeof lp;
    lp.d.workers = 1;
    ipx_pool_t pool = NULL;
    lp.later_field = 7;
    CHECK(ipx_pool_create(&lp.d, &pool), IPX_STATUS_UNSUPPORTED);
    lp.later_field = 0;
    CHECK(ipx_pool_create(&lp.d, &pool), IPX_STATUS_SUCCESS);
    ipx_pool_destroy(pool);
    puts("descriptor versions: ok");
    return 0;
}
"""


def test_descriptors_carry_their_size(make_install, tmp_path):
    _, prefix = make_install
    (tmp_path / "versions.c").write_text(DESCRIPTOR_VERSIONS)
    exe = tmp_path / "versions"
    run(["cc", "-std=c11", str(tmp_path / "versions.c"), f"-I{prefix / 'include'}", str(prefix / "lib" / "libipx.a"),
         "-pthread", "-lm", "-o", str(exe)])
    assert "descriptor versions: ok" in run([str(exe)])
