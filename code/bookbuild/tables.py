"""Tables built as docutils nodes, for the pages the build generates (ledger, execution status)."""

from __future__ import annotations

from docutils import nodes


def table(header: tuple[str, ...], widths: tuple[int, ...], rows: list[list[nodes.Node]],
          classes: list[str]) -> nodes.table:
    """A table with a header row; each cell holds one node (text, a link, a literal).

    ``widths`` are relative column widths, which the PDF keeps (the table fits the page).
    """
    result = nodes.table(classes=[*classes, "colwidths-given"])
    group = nodes.tgroup(cols=len(header))
    result += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += row([nodes.Text(name) for name in header])
    body = nodes.tbody()
    group += body
    for cells in rows:
        body += row(cells)
    return result


def row(cells: list[nodes.Node]) -> nodes.row:
    result = nodes.row()
    for content in cells:
        entry = nodes.entry()
        paragraph = nodes.paragraph()
        paragraph += content
        entry += paragraph
        result += entry
    return result
