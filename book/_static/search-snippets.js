// The search page, as a reader needs it (Sphinx's searchtools.js, patched once it is loaded):
// * a snippet reads as words: the text under a formula is its TeX source with the book's
//   macros (\(Z = A W\T + \vone \vb\T\)), shown here as plain words instead; code, contents
//   lists, check records and the print-only header are left out;
// * a snippet starts where the query's words stand together, not at the page's title;
// * a title (of a page or a section) that holds the query's words ranks above pages that only
//   mention them.
// The macros (window.NNMATH_MACROS) come from book/macros.tex, through the build. British and
// American spellings find each other through the index's stemmer (bookbuild/sphinx_search.py).
(() => {
  const SYMBOLS = {
    partial: "∂", delta: "δ", Delta: "Δ", sigma: "σ", eta: "η", odot: "⊙", sum: "Σ", cdot: "·",
    times: "×", leq: "≤", le: "≤", geq: "≥", ge: "≥", ne: "≠", neq: "≠", approx: "≈",
    infty: "∞", in: "∈", alpha: "α", beta: "β", epsilon: "ε", varepsilon: "ε", lambda: "λ",
    mu: "μ", pi: "π", theta: "θ", nabla: "∇", to: "→", rightarrow: "→", ldots: "…",
    dots: "…", cdots: "…", vdots: "…", ddots: "…", quad: " ", qquad: " ", log: "log", exp: "exp",
    max: "max", min: "min", tanh: "tanh",
  };
  // Code, contents lists, check records, the page's buttons, its table of contents, and the
  // title and contents that only a printed page shows.
  const LEFT_OUT = [".cell_input", "div.highlight", ".toctree-wrapper", ".nnmath-check", ".bd-header-article",
                    ".bd-sidebar-secondary", "nav", "#jb-print-docs-body", ".headerlink"].join(", ");
  const group = "\\{((?:[^{}]|\\{[^{}]*\\})*)\\}";  // an argument, with one level of braces
  const SNIPPET = 240;  // characters, as Sphinx's
  const CONTEXT = 80;  // characters shown before the query's words

  function expand(tex) {
    const macros = window.NNMATH_MACROS || {};
    for (let pass = 0; pass < 3; pass++) {
      for (const [name, value] of Object.entries(macros)) {
        const [body, arity] = Array.isArray(value) ? value : [value, 0];
        const pattern = new RegExp("\\\\" + name + "(?![a-zA-Z])" + group.repeat(arity), "g");
        tex = tex.replace(pattern, (...args) =>
          body.replace(/#(\d)/g, (_, n) => args[Number(n)]));
      }
    }
    return tex;
  }

  function plain(tex) {
    let text = expand(tex.replace(/\\[()[\]]/g, " "));
    text = text.replace(/\\(?:begin|end)\{[^{}]*\}(?:\{[^{}]*\})?/g, " ")  // environments: split, aligned, bmatrix
      .replace(/\\\\/g, "; ").replace(/&/g, " ");
    text = text.replace(/\^\{?\\mathsf\{T\}\}?/g, "ᵀ").replace(/\\mathcal\{L\}/g, "ℒ");
    for (let pass = 0; pass < 3; pass++) {
      text = text.replace(new RegExp("\\\\[dt]?frac" + group + group, "g"), "$1/$2")
        .replace(new RegExp("\\\\(?:mathbf|mathrm|mathsf|operatorname|text|boldsymbol)" + group, "g"), "$1");
    }
    text = text.replace(/\\([a-zA-Z]+)/g, (_, name) => SYMBOLS[name] ?? "")
      .replace(/\\[,;:! ]/g, " ").replace(/[{}_^]/g, "");
    return text.replace(/\s*;\s*;/g, ";").replace(/\s+/g, " ").trim();
  }

  // A word of the query, as a pattern that finds it in either spelling (initialise, initialize).
  function spellings(word) {
    return new RegExp(word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/([iy])[sz]/g, "$1[sz]"), "g");
  }

  // Where the snippet starts: the first place where every word of the query stands within a
  // sentence or so; else the first place of its rarest word; else the top.
  function snippetStart(text, keywords) {
    const places = keywords.map((word) => [...text.matchAll(spellings(word))].map((m) => m.index));
    for (const place of places.flat().sort((a, b) => a - b)) {
      if (places.every((list) => list.some((other) => other >= place && other < place + 160))) return place;
    }
    const found = places.filter((list) => list.length).sort((a, b) => a.length - b.length);
    return found.length ? found[0][0] : 0;
  }

  // The query's words as the reader typed them (Sphinx hands the snippet only their stems,
  // "initi" for "initialization", which "initial" matches too).
  function queryWords() {
    const query = new URLSearchParams(window.location.search).get("q") || "";
    return query.toLowerCase().split(/[\s-]+/).filter((word) => word.length > 1);
  }

  function summary(htmlText, keywords, anchor) {
    const text = Search.htmlToText(htmlText, anchor).replace(/\s+/g, " ").trim();
    if (!text) return null;
    const lower = text.toLowerCase();
    const stems = [...keywords].map((stem) => stem.toLowerCase());
    const words = queryWords().map((word) => spellings(word).test(lower) ? word
      : stems.find((stem) => word.startsWith(stem)) || word);
    const start = Math.max(snippetStart(lower, words) - CONTEXT, 0);
    const paragraph = document.createElement("p");
    paragraph.classList.add("context");
    paragraph.textContent = (start ? "..." : "") + text.substr(start, SNIPPET).trim()
      + (start + SNIPPET < text.length ? "..." : "");
    return paragraph;
  }

  // A result's score: how many of the query's words its title holds (the section's, for a
  // section), then Sphinx's own score. A result is [docname, title, anchor, descr, score, file].
  function score(result) {
    const words = queryWords();
    const title = result[1].split(" > ").pop().toLowerCase().replace(/-/g, " ");
    const held = words.filter((word) => spellings(word).test(title)).length;
    return (words.length ? Math.round(100 * held / words.length) : 0) + result[4];
  }

  function patch() {
    if (typeof Search === "undefined" || Search.nnmathPlain) return;
    const original = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => {
      const page = new DOMParser().parseFromString(htmlString, "text/html");
      page.querySelectorAll(LEFT_OUT)
        .forEach((element) => element.remove());
      page.querySelectorAll(".math").forEach((element) => {
        const number = element.querySelector(".eqno");
        const label = number ? ` ${number.textContent.trim()}` : "";
        if (number) number.remove();
        element.textContent = ` ${plain(element.textContent)}${label} `;
      });
      // An index entry's anchor is an empty span; Sphinx would make an empty snippet of
      // it, and fail to show it. Its snippet is the section around it.
      const target = anchor ? page.querySelector(`[role="main"] [id="${anchor.replace(/^#/, "")}"]`) : null;
      if (target && !target.textContent.trim()) {
        const section = target.closest("section[id]");
        anchor = section ? `#${section.id}` : undefined;
      }
      return original(page.documentElement.outerHTML, anchor);
    };
    Search.makeSearchSummary = summary;
    if (typeof Scorer !== "undefined") Scorer.score = score;
    Search.nnmathPlain = true;
  }
  document.addEventListener("DOMContentLoaded", patch);
})();
