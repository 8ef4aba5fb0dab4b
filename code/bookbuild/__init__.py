"""bookbuild: the pipeline that builds the book and cannot show a stale or failed output.

The build runs in three steps, each in its own module:

1. :mod:`bookbuild.book` reads ``_config.yml`` and ``_toc.yml``, finds every chapter and
   refuses a book whose chapters and table of contents disagree, or whose code cells
   would never run (a chapter without the MyST-NB header).
2. :mod:`bookbuild.execute` executes, in parallel, every chapter whose *execution key*
   (:mod:`bookbuild.keys`: its code cells, the package modules it imports and the pinned
   requirements) has no stored result yet. A failing cell fails the build and is named.
3. Sphinx (through ``jupyter-book build``) renders the book; :mod:`bookbuild.sphinx_ext`
   hands it the stored outputs for each chapter's *current* key, and nothing else.
"""
