// Search results show snippets of the pages' text. The text under a maths formula is its
// TeX source, with the book's macros (\(Z = A W\T + \vone \vb\T\)): read it as plain words
// instead, and leave code and contents lists out of the snippets.
// The macros (window.NNMATH_MACROS) come from book/macros.tex, through the build.
(() => {
  const SYMBOLS = {
    partial: "∂", delta: "δ", Delta: "Δ", sigma: "σ", eta: "η", odot: "⊙", sum: "Σ", cdot: "·",
    times: "×", leq: "≤", le: "≤", geq: "≥", ge: "≥", ne: "≠", neq: "≠", approx: "≈",
    infty: "∞", in: "∈", alpha: "α", beta: "β", epsilon: "ε", varepsilon: "ε", lambda: "λ",
    mu: "μ", pi: "π", theta: "θ", nabla: "∇", to: "→", rightarrow: "→", ldots: "…",
    dots: "…", cdots: "…", quad: " ", qquad: " ", log: "log", exp: "exp", max: "max",
    min: "min", tanh: "tanh",
  };
  // Code, contents lists, check records, the page's buttons and its table of contents.
  const LEFT_OUT = [".cell_input", "div.highlight", ".toctree-wrapper", ".nnmath-check", ".bd-header-article",
                    ".bd-sidebar-secondary", "nav"].join(", ");
  const group = "\\{((?:[^{}]|\\{[^{}]*\\})*)\\}";  // an argument, with one level of braces

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
    let text = expand(tex.replace(/^\\[([]|\\[)\]]$/g, ""));
    text = text.replace(/\^\{?\\mathsf\{T\}\}?/g, "ᵀ").replace(/\\mathcal\{L\}/g, "ℒ");
    for (let pass = 0; pass < 3; pass++) {
      text = text.replace(new RegExp("\\\\[dt]?frac" + group + group, "g"), "$1/$2")
        .replace(new RegExp("\\\\(?:mathbf|mathrm|mathsf|operatorname|text|boldsymbol)" + group, "g"), "$1");
    }
    text = text.replace(/\\([a-zA-Z]+)/g, (_, name) => SYMBOLS[name] ?? "")
      .replace(/\\[,;:! ]/g, " ").replace(/[{}]/g, "");
    return text.replace(/\s+/g, " ").trim();
  }

  function patch() {
    if (typeof Search === "undefined" || Search.nnmathPlain) return;
    const original = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => {
      const page = new DOMParser().parseFromString(htmlString, "text/html");
      page.querySelectorAll(LEFT_OUT)
        .forEach((element) => element.remove());
      page.querySelectorAll(".math").forEach((element) => {
        element.textContent = ` ${plain(element.textContent)} `;
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
    Search.nnmathPlain = true;
  }
  document.addEventListener("DOMContentLoaded", patch);
})();
