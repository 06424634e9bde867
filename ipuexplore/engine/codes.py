"""Names of the C engine's enum values, as the Python API shows them."""

ALGORITHMS = {"auto": 0, "direct": 1, "gemm": 2, "winograd": 3}
ALGORITHM_NAMES = {v: k for k, v in ALGORITHMS.items()}
KERNEL_NAMES = {1: "row", 2: "channel", 3: "gemm", 4: "winograd"}
ISA_NAMES = {0: "portable", 1: "avx2", 2: "avx512"}
