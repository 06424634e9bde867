"""Optional peers the tests and benchmark scripts compare against, imported one way everywhere."""

import os
import sys


def import_torchvision():
    """torchvision's models; a wheel whose compiled ops do not match this torch still gives its
    pure-Python models through the measuring aid in TORCHVISION_SHIM_DIR (torchvision_models.py).
    Raises ImportError when neither imports."""
    try:
        import torchvision

        return torchvision
    except Exception:  # noqa: BLE001 - ImportError, or RuntimeError from mismatched compiled ops
        shim = os.environ.get("TORCHVISION_SHIM_DIR", "/work/shared/peers")
        sys.path.insert(0, shim)
        try:
            import torchvision_models  # noqa: F401

            import torchvision

            return torchvision
        except Exception as error:  # noqa: BLE001
            raise ImportError("torchvision is not importable: pip install --no-deps torchvision pillow") from error
        finally:
            sys.path.remove(shim)
