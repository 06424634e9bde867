"""The cffi declarations (csrc/ipx.cdef) and the public header (csrc/include/ipx.h) declare
the same functions, enums, enum values, structs, struct fields and macros."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _strip(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _names(text):
    text = _strip(text)
    funcs = set(re.findall(r"\b(ipx_\w+)\s*\([^;{]*\)\s*;", text))
    enums = {}
    for name, body in re.findall(r"typedef\s+enum\s+(\w+)\s*\{(.*?)\}", text, flags=re.S):
        enums[name] = dict(re.findall(r"(IPX_\w+)\s*=\s*(\d+)", body))
    structs = {}
    for name, body in re.findall(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}", text, flags=re.S):
        fields = []
        for decl in body.split(";"):
            decl = decl.strip()
            if decl:
                typ, _, names = decl.partition(" ")
                fields.append((typ, tuple(n.strip() for n in names.split(","))))
        structs[name] = fields
    handles = set(re.findall(r"typedef\s+struct\s+\w+\s*\*\s*(\w+)\s*;", text))
    macros = set(re.findall(r"#define\s+(IPX_[A-Z0-9_]+)\s", text))
    return funcs, enums, structs, handles, macros


def test_header_and_cdef_agree():
    header = (ROOT / "csrc" / "include" / "ipx.h").read_text()
    cdef = (ROOT / "csrc" / "ipx.cdef").read_text()
    h, c = _names(header), _names(cdef)
    assert h[0] == c[0] and len(h[0]) >= 14, "functions differ"
    assert h[1] == c[1], "enums differ"
    assert h[2] == c[2], "structs differ"
    assert h[3] == c[3], "handle typedefs differ"
    # Header-only macros: include guard, export and static-build switches.
    assert h[4] - {"IPX_H", "IPX_API", "IPX_STATIC_BUILD"} == c[4]


def test_every_header_function_is_on_lib():
    lib = pytest.importorskip("ipuexplore._ipx").lib
    funcs = _names((ROOT / "csrc" / "include" / "ipx.h").read_text())[0]
    for name in funcs:
        assert callable(getattr(lib, name)), name
