"""Build the compiled kernels (engine/_fastsel.pyx).

The extension is required: a machine without a C compiler fails the build
loudly rather than silently installing a slower package.  Setting
ENGINE_NO_EXTENSIONS=1 at build time skips it on purpose; the package then runs
on its pure-Python twin (engine/_fastsel_py.py).
"""
import os

from setuptools import Extension, setup

if os.environ.get("ENGINE_NO_EXTENSIONS") == "1":
    ext_modules = []
else:
    from Cython.Build import cythonize

    ext_modules = cythonize(
        [Extension("engine._fastsel", ["engine/_fastsel.pyx"], extra_compile_args=["-O3"])],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
    )

setup(ext_modules=ext_modules)
