"""nnmath: the mathematics of neural networks, written out by hand in NumPy.

Every function here is checked against PyTorch autograd, in the tests and in
the book's executed cells. Import the submodules directly (``from
nnmath.activations import sigmoid``): this file imports none of them, so that
the book's build can tell exactly which chapters depend on which module.
"""
