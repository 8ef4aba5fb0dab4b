"""Tables built as docutils nodes, for the pages the build generates (ledger, execution status)."""

from __future__ import annotations

from docutils import nodes


def table(header: tuple[str, ...], widths: tuple[int, ...], rows: list[list[nodes.Node | list[nodes.Node]]],
          classes: list[str], labelled: bool = False) -> nodes.table:
    """A table with a header row; each cell holds one node (text, a link, a literal, a block), or
    a list of them, one line each. A row with fewer cells than the header has: its last cell
    spans the remaining columns.

    ``widths`` are relative column widths, which the PDF keeps (the table fits the page).
    ``labelled`` cells start with their column's name, which the website's CSS shows only on
    a phone, where each row is a block (``book/_static/book.css``); the PDF has no use for it.
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
        body += _span(row(cells, header if labelled else ()), len(header))
    return result


def row(cells: list[nodes.Node | list[nodes.Node]], labels: tuple[str, ...] = ()) -> nodes.row:
    result = nodes.row()
    for index, content in enumerate(cells):
        entry = nodes.entry()
        for number, line in enumerate(content if isinstance(content, list) else [content]):
            if isinstance(line, nodes.Inline | nodes.Text):
                paragraph = nodes.paragraph()
                if labels and number == 0:
                    paragraph += nodes.inline(text=f"{labels[index]}: ", classes=["table-cell-label"])
                paragraph += line
                entry += paragraph
            else:  # a block, such as a formula
                entry += line
        result += entry
    return result


def _span(row_node: nodes.row, columns: int) -> nodes.row:
    spare = columns - len(row_node.children)
    if spare > 0:
        row_node.children[-1]["morecols"] = spare
    return row_node
