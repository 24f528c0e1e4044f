"""Build the compiled kernels (engine/_fastsel.pyx).

The extension is required: a machine without a working C compiler fails the
build with one line saying how to install the pure-Python twin instead,
rather than silently installing a slower package.  Setting
ENGINE_NO_EXTENSIONS=1 at build time skips it on purpose; the package then
runs on its pure-Python twin (engine/_fastsel_py.py).
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

PURE_INSTALL = "ENGINE_NO_EXTENSIONS=1 pip install ..."


class BuildKernels(build_ext):
    """build_ext whose compiler failures end the build with one line naming the way out."""

    def run(self) -> None:
        try:
            super().run()
        except (CCompilerError, CompileError, ExecError, LinkError, PlatformError) as exc:
            sys.exit(
                f"error: cannot compile engine/_fastsel.pyx ({exc}); without a working C compiler, "
                f"install the pure-Python twin: {PURE_INSTALL} (the same arguments)"
            )


if os.environ.get("ENGINE_NO_EXTENSIONS") == "1":
    ext_modules = []
else:
    from Cython.Build import cythonize

    ext_modules = cythonize(
        [Extension("engine._fastsel", ["engine/_fastsel.pyx"], extra_compile_args=["-O3"])],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
    )

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildKernels})
