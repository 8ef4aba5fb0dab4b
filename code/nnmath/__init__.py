"""nnmath: the mathematics of neural networks, written out by hand in NumPy.

Every function here is checked against PyTorch autograd, in the tests and in
the book's executed cells. Import the submodules directly (``from
nnmath.activations import sigmoid``): this file imports none of them, so that
the book's build can tell exactly which chapters depend on which module.

``__version__`` is the installed version: the wheel the book's website serves
carries the commit it was built from, e.g. ``0.2.0+g1a2b3c4d5e6f``.
"""

from importlib.metadata import version as _version

__version__ = _version("nnmath")
