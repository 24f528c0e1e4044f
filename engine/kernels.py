"""The selection kernels in use: compiled (engine._fastsel) unless
ENGINE_NO_EXTENSIONS=1 asks for the pure-Python twin, or the compiled module
was not built.  ``IMPLEMENTATION`` says which one loaded, so tests and
benchmarks can tell."""
import os

if os.environ.get("ENGINE_NO_EXTENSIONS") == "1":
    from . import _fastsel_py as _impl

    IMPLEMENTATION = "pure"
else:
    try:
        from . import _fastsel as _impl

        IMPLEMENTATION = "compiled"
    except ImportError:
        from . import _fastsel_py as _impl

        IMPLEMENTATION = "pure"

hint_match = _impl.hint_match
hint_masks = _impl.hint_masks
mask_rows = _impl.mask_rows
equal_rows = _impl.equal_rows
